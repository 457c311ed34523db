#pragma once
// How a message travels between handlers without boxing.
//
// A handler receives its messages as real C++ types (see handler.hpp). Between
// two handlers the pipeline carries a MessageRef: a pointer to the caller's
// object plus a pointer to a static table describing its type. Nothing is
// allocated or copied per hop; the table lets the pipeline check types and lets
// EmbeddedChannel capture whatever reaches the end of the pipeline.

#include <memory>
#include <string>
#include <typeinfo>
#include <utility>

namespace sluice {

/// A message moved into a box of its own: how EmbeddedChannel keeps what
/// reaches the ends of a pipeline (std::any cannot hold move-only types).
struct BoxedMessage {
  std::shared_ptr<void> value;
  const std::type_info* type = nullptr;

  template <class T>
  T* get() const noexcept {
    return type != nullptr && *type == typeid(T) ? static_cast<T*>(value.get()) : nullptr;
  }
};

/// Static facts about a message type, one table per type.
struct MessageType {
  const std::type_info& type;
  BoxedMessage (*take)(void* object);  // moves the object into a box (tests only)
};

namespace detail {
template <class T>
inline constexpr MessageType message_type_of{typeid(T), [](void* object) {
                                               return BoxedMessage{
                                                   std::make_shared<T>(std::move(*static_cast<T*>(object))),
                                                   &typeid(T)};
                                             }};
}  // namespace detail

/// A borrowed message in flight: valid for the duration of one callback.
/// A handler that wants to keep a message moves it out (see Handler::read).
struct MessageRef {
  void* object;
  const MessageType* type;

  template <class T>
  static MessageRef of(T& object) noexcept {
    return MessageRef{static_cast<void*>(&object), &detail::message_type_of<T>};
  }
  template <class T>
  bool is() const noexcept {
    return type == &detail::message_type_of<T> || type->type == typeid(T);
  }
};

/// The demangled name of a type, for error messages.
std::string type_name(const std::type_info& type);

}  // namespace sluice
