/* naive_uv_echo: the libuv echo server most tutorials show, as a baseline
 * for sluice-echo: one malloc per read, one uv_write per read, the buffer
 * freed in the write callback. It does set TCP_NODELAY, as sluice does by
 * default, so that the comparison is not about Nagle's algorithm.
 * usage: naive_uv_echo PORT   (listens on 127.0.0.1) */
#include <stdlib.h>
#include <uv.h>

typedef struct {
  uv_write_t req;
  uv_buf_t buf;
} write_req_t;

static void alloc_buffer(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  (void)handle;
  buf->base = malloc(suggested);
  buf->len = suggested;
}

static void on_close(uv_handle_t *handle) { free(handle); }

static void on_write(uv_write_t *req, int status) {
  write_req_t *wr = (write_req_t *)req;
  if (status < 0 && !uv_is_closing((uv_handle_t *)req->handle)) uv_close((uv_handle_t *)req->handle, on_close);
  free(wr->buf.base);
  free(wr);
}

static void on_read(uv_stream_t *client, ssize_t nread, const uv_buf_t *buf) {
  if (nread > 0) {
    write_req_t *wr = malloc(sizeof *wr);
    wr->buf = uv_buf_init(buf->base, (unsigned)nread);
    uv_write(&wr->req, client, &wr->buf, 1, on_write);
    return;
  }
  free(buf->base);
  if (nread < 0) uv_close((uv_handle_t *)client, on_close);
}

static void on_connection(uv_stream_t *server, int status) {
  if (status < 0) return;
  uv_tcp_t *client = malloc(sizeof *client);
  uv_tcp_init(server->loop, client);
  if (uv_accept(server, (uv_stream_t *)client) == 0) {
    uv_tcp_nodelay(client, 1);
    uv_read_start((uv_stream_t *)client, alloc_buffer, on_read);
  } else {
    uv_close((uv_handle_t *)client, on_close);
  }
}

int main(int argc, char **argv) {
  uv_tcp_t server;
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", argc > 1 ? atoi(argv[1]) : 7000, &addr);
  uv_tcp_init(uv_default_loop(), &server);
  uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
  if (uv_listen((uv_stream_t *)&server, 4096, on_connection) != 0) return 1;
  return uv_run(uv_default_loop(), UV_RUN_DEFAULT);
}
