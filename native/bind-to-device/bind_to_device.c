// Kiln's one native helper (Linux): bind an existing UDP socket to a network
// device, so it receives only datagrams that arrived on that device and sends
// only out of it (socket(7) SO_BINDTODEVICE); and force a receive buffer past
// net.core.rmem_max (SO_RCVBUFFORCE) for a boot storm's burst. Plain N-API from Node's own
// headers; no npm dependency. Errors are thrown as JS Errors whose `code` is
// the errno name-ish text ("ENODEV") and whose message carries strerror().
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <node_api.h>

#define CALL(env, expr) do { if ((expr) != napi_ok) return throw_text(env, "EINVAL", "bind_to_device: N-API call failed: " #expr); } while (0)

static napi_value throw_text(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

static const char *errno_code(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case ENODEV: return "ENODEV";
    case EBADF: return "EBADF";
    case ENOTSOCK: return "ENOTSOCK";
    case EINVAL: return "EINVAL";
    default: return "EIO";
  }
}

static napi_value throw_errno(napi_env env, const char *what, const char *ifname, int e) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s(%s): %s (errno %d)", what, ifname, strerror(e), e);
  return throw_text(env, errno_code(e), msg);
}

// fd: a socket file descriptor; returns the int or -1 after throwing.
static int get_fd(napi_env env, napi_value v) {
  int32_t fd = -1;
  if (napi_get_value_int32(env, v, &fd) != napi_ok || fd < 0) {
    throw_text(env, "EINVAL", "bind_to_device: fd must be a non-negative integer");
    return -1;
  }
  return fd;
}

// bindToDevice(fd: number, ifname: string): void
static napi_value bind_to_device(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 2) return throw_text(env, "EINVAL", "bindToDevice(fd, ifname) takes two arguments");
  int fd = get_fd(env, argv[0]);
  if (fd < 0) return NULL;
  char ifname[IFNAMSIZ];
  size_t len = 0;
  // A NULL buffer asks only for the length, so an over-long name is rejected rather than truncated.
  if (napi_get_value_string_utf8(env, argv[1], NULL, 0, &len) != napi_ok)
    return throw_text(env, "EINVAL", "bindToDevice: ifname must be a string");
  if (len == 0 || len >= IFNAMSIZ) return throw_text(env, "EINVAL", "bindToDevice: ifname must be 1 to 15 bytes (IFNAMSIZ)");
  CALL(env, napi_get_value_string_utf8(env, argv[1], ifname, sizeof ifname, &len));
  if (strlen(ifname) != len) return throw_text(env, "EINVAL", "bindToDevice: ifname must not contain NUL");
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)len) != 0)
    return throw_errno(env, "setsockopt SO_BINDTODEVICE", ifname, errno);
  return NULL;
}

// discardQueued(fd: number): number. Drops datagrams already queued on a
// non-blocking socket (those that arrived before SO_BINDTODEVICE took effect)
// and returns how many; stops at EAGAIN.
static napi_value discard_queued(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 1) return throw_text(env, "EINVAL", "discardQueued(fd) takes one argument");
  int fd = get_fd(env, argv[0]);
  if (fd < 0) return NULL;
  int32_t n = 0;
  char byte;
  for (;;) {
    ssize_t r = recv(fd, &byte, 1, MSG_DONTWAIT | MSG_TRUNC);
    if (r >= 0) { n++; continue; }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    return throw_errno(env, "recv", "queued", errno);
  }
  napi_value out;
  CALL(env, napi_create_int32(env, n, &out));
  return out;
}

// forceRecvBuffer(fd: number, bytes: number): void. setsockopt SO_RCVBUFFORCE
// (socket(7)): a receive buffer beyond net.core.rmem_max, for a process with
// CAP_NET_ADMIN (a DHCP server bound to port 67 as root has it). The kernel
// doubles the value for its bookkeeping, as for SO_RCVBUF.
static napi_value force_recv_buffer(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 2) return throw_text(env, "EINVAL", "forceRecvBuffer(fd, bytes) takes two arguments");
  int fd = get_fd(env, argv[0]);
  if (fd < 0) return NULL;
  int32_t bytes = 0;
  if (napi_get_value_int32(env, argv[1], &bytes) != napi_ok || bytes <= 0)
    return throw_text(env, "EINVAL", "forceRecvBuffer: bytes must be a positive 32-bit integer");
  int v = bytes;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, (socklen_t)sizeof v) != 0)
    return throw_errno(env, "setsockopt SO_RCVBUFFORCE", "receive buffer", errno);
  return NULL;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
    { "bindToDevice", NULL, bind_to_device, NULL, NULL, NULL, napi_enumerable, NULL },
    { "discardQueued", NULL, discard_queued, NULL, NULL, NULL, napi_enumerable, NULL },
    { "forceRecvBuffer", NULL, force_recv_buffer, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
