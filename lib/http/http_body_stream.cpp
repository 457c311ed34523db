#include "sluice/http/http_body_stream.hpp"

namespace sluice {

namespace {
// What a stream holds for a handler that has not called on_data() yet
// before the connection stops reading.
constexpr std::size_t kMaxEarlyBytes = 64 * 1024;
}  // namespace

std::shared_ptr<HttpBodyStream> HttpBodyStream::finished(std::string body) {
  auto stream = std::make_shared<HttpBodyStream>();
  if (!body.empty()) {
    stream->received_ = body.size();
    stream->early_bytes_ = body.size();
    stream->early_.push_back(std::move(body));
  }
  stream->finish(0);
  return stream;
}

void HttpBodyStream::on_data(DataFn data, EndFn end) {
  data_ = std::move(data);
  end_ = std::move(end);
  deliver();
  if (flow_ && !wants_stop()) flow_(false);
}

void HttpBodyStream::pause() {
  if (paused_) return;
  paused_ = true;
  if (flow_) flow_(true);
}

void HttpBodyStream::resume() {
  if (!paused_) return;
  paused_ = false;
  deliver();
  if (flow_ && !wants_stop()) flow_(false);
}

bool HttpBodyStream::wants_stop() const noexcept { return paused_ || (!data_ && early_bytes_ >= kMaxEarlyBytes); }

void HttpBodyStream::push(std::string_view piece) {
  received_ += piece.size();
  if (data_ && !paused_ && early_.empty()) {
    data_(piece);
    return;
  }
  early_.emplace_back(piece);
  early_bytes_ += piece.size();
}

void HttpBodyStream::finish(int error_status) {
  if (ended_) return;
  ended_ = true;
  end_status_ = error_status;
  deliver();
}

void HttpBodyStream::deliver() {
  if (!data_) return;
  while (!early_.empty() && !paused_) {
    std::string piece = std::move(early_.front());
    early_.pop_front();
    early_bytes_ -= piece.size();
    data_(piece);
  }
  if (ended_ && early_.empty() && !end_delivered_ && (!paused_ || end_status_ != 0)) {
    end_delivered_ = true;
    auto end = std::move(end_);
    if (end) end(end_status_);
  }
}

}  // namespace sluice
