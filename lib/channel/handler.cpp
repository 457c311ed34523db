#include "sluice/channel/handler.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>

#include "sluice/channel/pipeline.hpp"

namespace sluice {

std::string type_name(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(type.name());
}

namespace detail {
void throw_type_mismatch(const std::type_info& expected, const MessageType& got, const char* where) {
  throw MessageTypeError(std::string(where) + " expected a " + type_name(expected) + " but got a " +
                         type_name(got.type));
}
}  // namespace detail

void HandlerBase::channel_active(HandlerContext& ctx) { ctx.fire_channel_active(); }
void HandlerBase::channel_inactive(HandlerContext& ctx) { ctx.fire_channel_inactive(); }
void HandlerBase::read_complete(HandlerContext& ctx) { ctx.fire_read_complete(); }
void HandlerBase::writability_changed(HandlerContext& ctx, bool writable) { ctx.fire_writability_changed(writable); }
void HandlerBase::user_event(HandlerContext& ctx, const UserEvent& event) { ctx.fire_user_event(event); }
void HandlerBase::error(HandlerContext& ctx, const std::exception& error) { ctx.fire_error(error); }
void HandlerBase::flush(HandlerContext& ctx) { ctx.flush(); }
void HandlerBase::close(HandlerContext& ctx) { ctx.close(); }
void HandlerBase::read_erased(HandlerContext& ctx, MessageRef message) { ctx.fire_read_erased(message); }
void HandlerBase::write_erased(HandlerContext& ctx, MessageRef message) { ctx.write_erased(message); }

}  // namespace sluice
