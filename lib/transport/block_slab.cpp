#include "block_slab.hpp"

#include <sanitizer/asan_interface.h>
#include <sys/mman.h>

#include <cstdint>
#include <mutex>
#include <new>
#include <vector>

namespace sluice::detail {

namespace {

// Chunks are aligned to their size, so a block finds its chunk (and the
// chunk its slab) by masking its address: no header per block.
constexpr std::size_t kChunkBytes = 256 * 1024;

struct Slab;

struct Chunk {
  Slab* slab;
  Chunk* prev = nullptr;  // in its size class's list of chunks with free blocks
  Chunk* next = nullptr;
  void* free_list = nullptr;  // freed blocks, linked through their first bytes
  std::uint32_t size_class;
  std::uint32_t block_size;
  std::uint32_t capacity;   // blocks it holds
  std::uint32_t used = 0;   // blocks handed out
  std::uint32_t fresh = 0;  // blocks from here on were never handed out
  bool listed = false;      // in the list (not full)

  Chunk(Slab* s, std::uint32_t cls, std::uint32_t size, std::uint32_t cap) noexcept
      : slab(s), size_class(cls), block_size(size), capacity(cap) {}
  char* first_block() noexcept;
};

constexpr std::size_t kHeaderBytes = (sizeof(Chunk) + 63) / 64 * 64;
char* Chunk::first_block() noexcept { return reinterpret_cast<char*>(this) + kHeaderBytes; }

struct SizeClass {
  std::uint32_t block_size;
  Chunk* head = nullptr;  // chunks with a free block; empty ones at the tail
  Chunk* tail = nullptr;
  std::uint32_t empty_chunks = 0;
};

struct Slab {
  std::mutex mutex;
  std::vector<SizeClass> classes;
  std::size_t mapped_bytes = 0;
  std::size_t blocks_in_use = 0;
  bool orphaned = false;  // its thread has exited
};

void link_front(SizeClass& c, Chunk* chunk) noexcept {
  chunk->prev = nullptr;
  chunk->next = c.head;
  if (c.head != nullptr) c.head->prev = chunk;
  c.head = chunk;
  if (c.tail == nullptr) c.tail = chunk;
  chunk->listed = true;
}

void link_back(SizeClass& c, Chunk* chunk) noexcept {
  chunk->next = nullptr;
  chunk->prev = c.tail;
  if (c.tail != nullptr) c.tail->next = chunk;
  c.tail = chunk;
  if (c.head == nullptr) c.head = chunk;
  chunk->listed = true;
}

void unlink(SizeClass& c, Chunk* chunk) noexcept {
  (chunk->prev != nullptr ? chunk->prev->next : c.head) = chunk->next;
  (chunk->next != nullptr ? chunk->next->prev : c.tail) = chunk->prev;
  chunk->prev = chunk->next = nullptr;
  chunk->listed = false;
}

Chunk* map_chunk(Slab& slab, std::uint32_t cls, std::uint32_t block_size) {
  // Twice the size, then the unaligned ends given back: an aligned chunk.
  void* raw = ::mmap(nullptr, 2 * kChunkBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  auto start = reinterpret_cast<std::uintptr_t>(raw);
  std::uintptr_t aligned = (start + kChunkBytes - 1) & ~(kChunkBytes - 1);
  if (aligned > start) ::munmap(raw, aligned - start);
  std::uintptr_t end = start + 2 * kChunkBytes;
  if (end > aligned + kChunkBytes) ::munmap(reinterpret_cast<void*>(aligned + kChunkBytes), end - aligned - kChunkBytes);
  auto capacity = static_cast<std::uint32_t>((kChunkBytes - kHeaderBytes) / block_size);
  auto* chunk = new (reinterpret_cast<void*>(aligned)) Chunk(&slab, cls, block_size, capacity);
  ASAN_POISON_MEMORY_REGION(chunk->first_block(), kChunkBytes - kHeaderBytes);
  slab.mapped_bytes += kChunkBytes;
  return chunk;
}

void unmap_chunk(Slab& slab, Chunk* chunk) noexcept {
  ASAN_UNPOISON_MEMORY_REGION(chunk, kChunkBytes);
  slab.mapped_bytes -= kChunkBytes;
  ::munmap(chunk, kChunkBytes);
}

void destroy(Slab* slab) noexcept {
  for (SizeClass& c : slab->classes) {
    while (c.head != nullptr) {
      Chunk* chunk = c.head;
      unlink(c, chunk);
      unmap_chunk(*slab, chunk);
    }
  }
  delete slab;
}

// The thread's slab: made by its first allocation; when the thread exits,
// left to the blocks still out (the last one freed destroys it).
struct LocalSlab {
  Slab* slab = nullptr;
  ~LocalSlab() {
    if (slab == nullptr) return;
    bool last;
    {
      std::lock_guard<std::mutex> lock(slab->mutex);
      slab->orphaned = true;
      last = slab->blocks_in_use == 0;
    }
    if (last) destroy(slab);
  }
};
thread_local LocalSlab t_local;

SizeClass& size_class(Slab& slab, std::uint32_t block_size, std::uint32_t& index) {
  for (std::size_t i = 0; i < slab.classes.size(); ++i) {
    if (slab.classes[i].block_size == block_size) {
      index = static_cast<std::uint32_t>(i);
      return slab.classes[i];
    }
  }
  slab.classes.push_back(SizeClass{block_size});
  index = static_cast<std::uint32_t>(slab.classes.size() - 1);
  return slab.classes.back();
}

}  // namespace

void* BlockSlab::allocate(std::size_t bytes) {
  if (bytes > kMaxBlockBytes) throw std::bad_alloc();
  if (t_local.slab == nullptr) t_local.slab = new Slab;
  Slab& slab = *t_local.slab;
  auto block_size = static_cast<std::uint32_t>(bytes < sizeof(void*) ? sizeof(void*) : (bytes + kAlign - 1) / kAlign * kAlign);
  std::lock_guard<std::mutex> lock(slab.mutex);
  std::uint32_t cls = 0;
  SizeClass* c = &size_class(slab, block_size, cls);
  if (c->head == nullptr) {
    Chunk* chunk = map_chunk(slab, cls, block_size);
    c = &slab.classes[cls];
    link_front(*c, chunk);
    ++c->empty_chunks;
  }
  Chunk* chunk = c->head;
  if (chunk->used == 0) --c->empty_chunks;
  void* block;
  if (chunk->free_list != nullptr) {
    block = chunk->free_list;
    ASAN_UNPOISON_MEMORY_REGION(block, chunk->block_size);
    chunk->free_list = *static_cast<void**>(block);
  } else {
    block = chunk->first_block() + static_cast<std::size_t>(chunk->fresh) * chunk->block_size;
    ++chunk->fresh;
    ASAN_UNPOISON_MEMORY_REGION(block, chunk->block_size);
  }
  ++chunk->used;
  ++slab.blocks_in_use;
  if (chunk->used == chunk->capacity) unlink(*c, chunk);
  return block;
}

void BlockSlab::deallocate(void* block) noexcept {
  auto* chunk = reinterpret_cast<Chunk*>(reinterpret_cast<std::uintptr_t>(block) & ~(kChunkBytes - 1));
  Slab* slab = chunk->slab;
  bool last;
  {
    std::lock_guard<std::mutex> lock(slab->mutex);
    SizeClass& c = slab->classes[chunk->size_class];
    *static_cast<void**>(block) = chunk->free_list;
    chunk->free_list = block;
    ASAN_POISON_MEMORY_REGION(block, chunk->block_size);
    --chunk->used;
    --slab->blocks_in_use;
    if (!chunk->listed) link_front(c, chunk);  // it was full
    if (chunk->used == 0) {
      // Empty: one per size class stays (at the back, used last); others go.
      unlink(c, chunk);
      if (c.empty_chunks == 0) {
        link_back(c, chunk);
        ++c.empty_chunks;
      } else {
        unmap_chunk(*slab, chunk);
      }
    }
    last = slab->orphaned && slab->blocks_in_use == 0;
  }
  if (last) destroy(slab);
}

BlockSlab::Stats BlockSlab::local_stats() noexcept {
  Slab* slab = t_local.slab;
  if (slab == nullptr) return {};
  std::lock_guard<std::mutex> lock(slab->mutex);
  return Stats{slab->mapped_bytes, slab->blocks_in_use};
}

}  // namespace sluice::detail
