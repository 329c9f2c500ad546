// Kiln's native TFTP data loop (Linux): the DATA/ACK exchange of one read
// transfer, on its own native thread, so a lock-step round trip costs
// poll + recv + sendmmsg and nothing of Node's receive path. Option
// negotiation, path checks, the OACK bytes, logging and events stay in
// TypeScript (src/boot/tftp/tftp-native-transfer.ts); this file only moves
// blocks. Plain N-API from Node's own headers; no npm dependency.
//
// startPump(sockFd, fileFd, opts) -> { done: Promise<result>, handle }
//   sockFd: a bound, connected UDP socket (the transfer's TID); it is dup'ed,
//           so the caller closes its own socket right after the call.
//   fileFd: an open file; owned (and closed) by the transfer once the call
//           returns. When the call throws, the caller still owns it.
//   opts:   { size, blksize, windowsize, timeoutMs, maxRetries, nice?, oack? }
//   result: { outcome, blocks, retries, errno, peerCode, peerMessage }
// abortPump(handle): ends a running transfer promptly (outcome 'aborted').
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <node_api.h>

enum { OP_DATA = 3, OP_ACK = 4, OP_ERROR = 5 };
/** Upper bound of a retransmission timeout after back-off (as tftp-transfer.ts). */
#define MAX_BACKOFF_MS 16000u
/** Bytes read from the file per pread (rounded to whole blocks); one read feeds many packets. */
#define READ_AHEAD_BYTES (256u * 1024u)
/** Largest window the negotiation grants (tftp-config.ts maxWindowsize). */
#define MAX_WINDOW 64u
/** Waits for send-buffer space per window before leaving the rest to the retransmit timer. */
#define SEND_WAIT_LIMIT 50
#define THREAD_STACK_BYTES (256u * 1024u)

typedef struct pump {
  // Set before the thread starts; read by it.
  int sock, file, abort_fd;
  uint64_t size;
  uint32_t blksize, window, timeout_ms, max_retries, nice;
  uint8_t *oack;
  size_t oack_len;
  // Written by the thread; read on the JS thread in call_js, after the thread is done with them.
  const char *outcome;
  uint64_t blocks;
  uint32_t retries;
  int err;
  int peer_code;
  char peer_msg[256];
  // JS thread only.
  napi_deferred deferred;
  napi_threadsafe_function tsfn;
  int finished;  // call_js ran and closed abort_fd
  int refs;      // 2: the running transfer (dropped in call_js) and the JS handle (dropped by its finalizer)
} pump_t;

/** Per-thread state of the loop; on the heap so the thread stack stays small. */
typedef struct loop {
  pump_t *p;
  uint64_t last;          // number of the last block, not wrapped
  uint8_t *chunk;         // file bytes of blocks chunk_first .. chunk_first + chunk_loaded - 1
  uint64_t chunk_first, chunk_loaded, chunk_cap;
  uint8_t hdr[MAX_WINDOW][4];
  struct iovec iov[MAX_WINDOW][2];
  struct mmsghdr msgs[MAX_WINDOW];
  uint8_t rbuf[1024];
} loop_t;

static uint64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/** The timeout for the `retries`-th retransmission: the base doubled per retry, capped at 16 s. */
static uint64_t backoff_ms(const pump_t *p, uint32_t retries) {
  uint64_t t = p->timeout_ms;
  for (uint32_t i = 0; i < retries && t < MAX_BACKOFF_MS; i++) t *= 2;
  return t < MAX_BACKOFF_MS ? t : MAX_BACKOFF_MS;
}

/** Payload bytes of block `b` (1-based): blksize, except the last, which is shorter, possibly empty (RFC 1350 §6). */
static size_t block_len(const loop_t *l, uint64_t b) {
  if (b < l->last) return l->p->blksize;
  return (size_t)(l->p->size - (l->last - 1) * l->p->blksize);
}

/** Reads the chunk that starts at block `first`; 0, or -1 with p->err set (read failed or the file shrank). */
static int load_chunk(loop_t *l, uint64_t first) {
  const pump_t *p = l->p;
  uint64_t n = l->last - first + 1;
  if (n > l->chunk_cap) n = l->chunk_cap;
  uint64_t off = (first - 1) * p->blksize;
  uint64_t end = (first - 1 + n) * p->blksize;
  if (end > p->size) end = p->size;
  size_t want = (size_t)(end - off), got = 0;
  while (got < want) {
    ssize_t r = pread(p->file, l->chunk + got, want - got, (off_t)(off + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) { l->p->err = r < 0 ? errno : EIO; return -1; }
    got += (size_t)r;
  }
  l->chunk_first = first;
  l->chunk_loaded = n;
  return 0;
}

/** Sends msgs[0..n); a full send buffer is waited for briefly, other errors are left to the retransmit timer. */
static void send_all(loop_t *l, unsigned n) {
  unsigned done = 0;
  int waits = 0;
  while (done < n) {
    int r = sendmmsg(l->p->sock, l->msgs + done, n - done, 0);
    if (r > 0) { done += (unsigned)r; continue; }
    if (r < 0 && errno == EINTR) continue;
    if ((r == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) && waits++ < SEND_WAIT_LIMIT) {
      struct pollfd f = { l->p->sock, POLLOUT, 0 };
      poll(&f, 1, 20);
      continue;
    }
    // ECONNREFUSED (ICMP from a client that went away) and the rest: the timer retransmits, then gives up.
    return;
  }
}

/**
 * Sends blocks acked+1 .. acked+window (at most the last) in one sendmmsg.
 * DATA packet (RFC 1350 §5):
 *    2 bytes   2 bytes    n bytes
 *   +--------+---------+----------+
 *   | 03     | block # |  data    |   n = blksize, except the last block
 *   +--------+---------+----------+
 * Returns 0, or -1 when the file cannot be read.
 */
static int send_window(loop_t *l, uint64_t acked, uint64_t *sent_max) {
  uint64_t first = acked + 1, lastb = acked + l->p->window;
  if (lastb > l->last) lastb = l->last;
  if (first < l->chunk_first || lastb >= l->chunk_first + l->chunk_loaded) {
    if (load_chunk(l, first) < 0) return -1;
  }
  unsigned n = 0;
  for (uint64_t b = first; b <= lastb; b++, n++) {
    // Block numbers wrap at 65535 -> 0 (the wire field is 16 bits; tftp-hpa and atftp accept it).
    l->hdr[n][0] = 0; l->hdr[n][1] = OP_DATA;
    l->hdr[n][2] = (uint8_t)((b >> 8) & 0xff); l->hdr[n][3] = (uint8_t)(b & 0xff);
    l->iov[n][0] = (struct iovec){ l->hdr[n], 4 };
    l->iov[n][1] = (struct iovec){ l->chunk + (b - l->chunk_first) * l->p->blksize, block_len(l, b) };
    memset(&l->msgs[n], 0, sizeof l->msgs[n]);
    l->msgs[n].msg_hdr.msg_iov = l->iov[n];
    l->msgs[n].msg_hdr.msg_iovlen = 2;
  }
  send_all(l, n);
  if (lastb > *sent_max) *sent_max = lastb;
  return 0;
}

/** ERROR 0 "read error" (RFC 1350 §5: opcode 5, code, message, NUL); best effort. */
static void send_read_error(const pump_t *p) {
  static const uint8_t pkt[] = { 0, OP_ERROR, 0, 0, 'r', 'e', 'a', 'd', ' ', 'e', 'r', 'r', 'o', 'r', 0 };
  ssize_t r = send(p->sock, pkt, sizeof pkt, MSG_DONTWAIT);
  (void)r;  // deliberately unchecked: the transfer ends either way
}

static void run_transfer(pump_t *p, loop_t *l) {
  // The last block is the first one shorter than blksize, possibly empty (RFC 1350 §6).
  l->last = p->size / p->blksize + 1;
  int oack_phase = p->oack_len > 0;
  uint64_t acked = 0, sent_max = 0, deadline = 0;
  uint32_t retries = 0;

  // Sends what is outstanding (the OACK, or the window after `acked`) and restarts the timer.
#define SEND_CURRENT() do { \
    deadline = now_ms() + backoff_ms(p, retries); \
    if (oack_phase) { ssize_t r_ = send(p->sock, p->oack, p->oack_len, MSG_DONTWAIT); (void)r_; } \
    else if (send_window(l, acked, &sent_max) < 0) { send_read_error(p); p->outcome = "read_error"; goto out; } \
  } while (0)

  SEND_CURRENT();
  for (;;) {
    uint64_t now = now_ms();
    if (now >= deadline) {
      // Only the timer retransmits; after max_retries the client is taken to be gone.
      if (retries >= p->max_retries) { p->outcome = "timeout"; goto out; }
      retries++;
      p->retries++;
      SEND_CURRENT();
      continue;
    }
    struct pollfd fds[2] = { { p->sock, POLLIN, 0 }, { p->abort_fd, POLLIN, 0 } };
    int r = poll(fds, 2, (int)(deadline - now));
    if (r < 0) {
      if (errno == EINTR) continue;
      p->err = errno;
      p->outcome = "aborted";
      goto out;
    }
    if (fds[1].revents) { p->outcome = "aborted"; goto out; }
    if (r == 0 || !fds[0].revents) continue;
    ssize_t n = recv(p->sock, l->rbuf, sizeof l->rbuf - 1, MSG_DONTWAIT);
    // ECONNREFUSED: an ICMP port unreachable (RFC 1122 §4.1.3.3 passes it to the application) for a packet of this
    // transfer. Before the client acknowledged anything it has gone: its RRQ timed out while this transfer waited
    // for a free slot or a CPU, and nobody listens on its port any more. Waiting out the back-off (up to 47 s)
    // would hold one of maxTransfers for a client that went away; end it now. Later in a transfer the client has
    // been talking to this port, so one stray ICMP is left to the timer as before.
    if (n < 0 && errno == ECONNREFUSED && acked == 0) {
      p->err = ECONNREFUSED;
      p->outcome = "timeout";
      goto out;
    }
    // EAGAIN, or ECONNREFUSED later in the transfer (an ICMP error, now consumed): keep waiting; the timer decides.
    if (n < 4) continue;  // also drops datagrams too short for an ACK or ERROR (RFC 1350 §5)
    unsigned op = (unsigned)l->rbuf[0] << 8 | l->rbuf[1];
    unsigned wire = (unsigned)l->rbuf[2] << 8 | l->rbuf[3];
    if (op == OP_ERROR) {
      // RFC 1350 §7: an ERROR ends the transfer; it is not acknowledged.
      p->peer_code = (int)wire;
      size_t len = (size_t)n - 4;
      if (len > sizeof p->peer_msg - 1) len = sizeof p->peer_msg - 1;
      memcpy(p->peer_msg, l->rbuf + 4, len);
      p->peer_msg[len] = 0;  // a message without its NUL ends at the packet end (docs/tftp.md deviations)
      p->outcome = "peer_error";
      goto out;
    }
    if (op != OP_ACK) continue;  // anything else on the transfer port is dropped; bytes after the block number are ignored
    if (oack_phase) {
      if (wire != 0) continue;  // RFC 2347: the OACK is acknowledged with ACK 0; anything else is stale
      oack_phase = 0;
      retries = 0;
      SEND_CURRENT();
      continue;
    }
    uint64_t delta = (wire - (acked & 0xffff)) & 0xffff;
    // RFC 1123 §4.2.3.1: a duplicate ACK must not trigger a retransmission (Sorcerer's Apprentice);
    // only the timer retransmits, and the timer is not restarted by it. An ACK beyond what was sent is ignored too.
    if (delta == 0 || delta > sent_max - acked) continue;
    acked += delta;
    retries = 0;
    if (acked >= l->last) { p->outcome = "complete"; goto out; }
    // RFC 7440 §4: the sender continues with the block after the acknowledged one (an ACK inside the window means a gap).
    SEND_CURRENT();
  }
#undef SEND_CURRENT
out:
  p->blocks = acked;
}

static void unref(pump_t *p) {
  if (--p->refs > 0) return;
  free(p->oack);
  free(p);
}

static void *thread_main(void *arg) {
  pump_t *p = arg;
  // A bulk transfer yields the CPU to the JS thread, whose DHCP replies and
  // boot scripts race firmware timers (iPXE resends DHCP after 1 s). On Linux
  // the nice value is per thread (setpriority(2), NOTES), so this lowers only
  // this thread. Raising niceness needs no privilege; a failure only leaves it at 0.
  if (p->nice > 0) (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), (int)p->nice);
  uint64_t cap = (READ_AHEAD_BYTES + p->blksize - 1) / p->blksize;
  // At least one whole window (sendmmsg sends it from this buffer): at most 64 x 65464 bytes = 4 MiB per transfer.
  if (cap < p->window) cap = p->window;
  loop_t *l = calloc(1, sizeof *l);
  uint8_t *chunk = malloc((size_t)(cap * p->blksize));
  if (!l || !chunk) {
    p->err = ENOMEM;
    p->outcome = "read_error";
  } else {
    l->p = p;
    l->chunk = chunk;
    l->chunk_cap = cap;
    run_transfer(p, l);
  }
  free(chunk);
  free(l);
  close(p->sock);
  close(p->file);
  napi_call_threadsafe_function(p->tsfn, p, napi_tsfn_blocking);
  napi_release_threadsafe_function(p->tsfn, napi_tsfn_release);
  return NULL;
}

#define TRY(env, expr) do { if ((expr) != napi_ok) goto napi_fail; } while (0)

/** On the JS thread once the native thread is done: resolve `done`, close the abort eventfd. */
static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)js_cb; (void)context;
  pump_t *p = data;
  if (env == NULL) return;  // the environment is being torn down: nothing to resolve; the memory goes with the process
  napi_value res, v;
  TRY(env, napi_create_object(env, &res));
  TRY(env, napi_create_string_utf8(env, p->outcome, NAPI_AUTO_LENGTH, &v));
  TRY(env, napi_set_named_property(env, res, "outcome", v));
  TRY(env, napi_create_double(env, (double)p->blocks, &v));
  TRY(env, napi_set_named_property(env, res, "blocks", v));
  TRY(env, napi_create_uint32(env, p->retries, &v));
  TRY(env, napi_set_named_property(env, res, "retries", v));
  TRY(env, napi_create_int32(env, p->err, &v));
  TRY(env, napi_set_named_property(env, res, "errno", v));
  TRY(env, napi_create_int32(env, p->peer_code, &v));
  TRY(env, napi_set_named_property(env, res, "peerCode", v));
  TRY(env, napi_create_string_utf8(env, p->peer_msg, NAPI_AUTO_LENGTH, &v));
  TRY(env, napi_set_named_property(env, res, "peerMessage", v));
  napi_resolve_deferred(env, p->deferred, res);
  goto done;
napi_fail:
  napi_get_undefined(env, &v);
  napi_reject_deferred(env, p->deferred, v);
done:
  close(p->abort_fd);
  p->finished = 1;
  unref(p);
}

static void finalize_handle(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  unref(data);
}

static napi_value throw_msg(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

/** Reads integer property `name` of `obj` into `out`; false (after throwing) when missing or outside min..max. */
static int get_int(napi_env env, napi_value obj, const char *name, double min, double max, double *out) {
  napi_value v;
  double d;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok || napi_get_value_double(env, v, &d) != napi_ok
      || d != d || d < min || d > max || d != (double)(int64_t)d) {
    char msg[128];
    snprintf(msg, sizeof msg, "startPump: opts.%s must be an integer %.0f..%.0f", name, min, max);
    napi_throw_range_error(env, "EINVAL", msg);
    return 0;
  }
  *out = d;
  return 1;
}

static napi_value start_pump(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3)
    return throw_msg(env, "EINVAL", "startPump(sockFd, fileFd, opts) takes three arguments");
  int32_t sock_fd, file_fd;
  if (napi_get_value_int32(env, argv[0], &sock_fd) != napi_ok || sock_fd < 0
      || napi_get_value_int32(env, argv[1], &file_fd) != napi_ok || file_fd < 0)
    return throw_msg(env, "EINVAL", "startPump: sockFd and fileFd must be non-negative integers");
  double size, blksize, window, timeout_ms, max_retries, nice = 0;
  if (!get_int(env, argv[2], "size", 0, 9007199254740991.0, &size)
      || !get_int(env, argv[2], "blksize", 8, 65464, &blksize)
      || !get_int(env, argv[2], "windowsize", 1, MAX_WINDOW, &window)
      || !get_int(env, argv[2], "timeoutMs", 1, 3600000, &timeout_ms)
      || !get_int(env, argv[2], "maxRetries", 0, 1000, &max_retries)) return NULL;
  bool has_nice = false;
  if (napi_has_named_property(env, argv[2], "nice", &has_nice) != napi_ok) return throw_msg(env, "EINVAL", "startPump: cannot read opts");
  if (has_nice && !get_int(env, argv[2], "nice", 0, 19, &nice)) return NULL;
  pump_t *p = calloc(1, sizeof *p);
  if (!p) return throw_msg(env, "ENOMEM", "startPump: out of memory");
  p->sock = p->abort_fd = -1;
  p->size = (uint64_t)size;
  p->blksize = (uint32_t)blksize;
  p->window = (uint32_t)window;
  p->timeout_ms = (uint32_t)timeout_ms;
  p->max_retries = (uint32_t)max_retries;
  p->nice = (uint32_t)nice;
  p->outcome = "aborted";
  p->refs = 2;
  napi_value oack, promise, handle, name, out;
  bool is_typed = false;
  if (napi_get_named_property(env, argv[2], "oack", &oack) == napi_ok && napi_is_typedarray(env, oack, &is_typed) == napi_ok && is_typed) {
    void *bytes;
    size_t len;
    napi_typedarray_type type;
    if (napi_get_typedarray_info(env, oack, &type, &len, &bytes, NULL, NULL) != napi_ok || type != napi_uint8_array) {
      free(p);
      return throw_msg(env, "EINVAL", "startPump: opts.oack must be a Uint8Array");
    }
    if (len > 0) {
      p->oack = malloc(len);
      if (!p->oack) { free(p); return throw_msg(env, "ENOMEM", "startPump: out of memory"); }
      memcpy(p->oack, bytes, len);
      p->oack_len = len;
    }
  }
  char msg[160];
  p->sock = fcntl(sock_fd, F_DUPFD_CLOEXEC, 0);
  if (p->sock < 0) { snprintf(msg, sizeof msg, "startPump: dup(sockFd): %s", strerror(errno)); goto fail; }
  p->abort_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (p->abort_fd < 0) { snprintf(msg, sizeof msg, "startPump: eventfd: %s", strerror(errno)); goto fail; }
  if (napi_create_promise(env, &p->deferred, &promise) != napi_ok
      || napi_create_string_utf8(env, "kiln.tftpPump", NAPI_AUTO_LENGTH, &name) != napi_ok
      || napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, call_js, &p->tsfn) != napi_ok) {
    snprintf(msg, sizeof msg, "startPump: N-API setup failed");
    goto fail;
  }
  p->file = file_fd;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, THREAD_STACK_BYTES);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t tid;
  int e = pthread_create(&tid, &attr, thread_main, p);
  pthread_attr_destroy(&attr);
  if (e != 0) {
    napi_release_threadsafe_function(p->tsfn, napi_tsfn_abort);
    snprintf(msg, sizeof msg, "startPump: pthread_create: %s", strerror(e));
    goto fail;
  }
  // From here the thread owns p->sock and p->file; the handle keeps p alive for abortPump.
  napi_value v;
  if (napi_create_external(env, p, finalize_handle, NULL, &handle) != napi_ok) { p->refs--; handle = NULL; }
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "done", promise);
  if (handle) napi_set_named_property(env, out, "handle", handle);
  else { napi_get_undefined(env, &v); napi_set_named_property(env, out, "handle", v); }
  return out;
fail:
  if (p->sock >= 0) close(p->sock);
  if (p->abort_fd >= 0) close(p->abort_fd);
  // A created promise is left unresolved: the caller never sees it.
  free(p->oack);
  free(p);
  return throw_msg(env, "EIO", msg);
}

static napi_value abort_pump(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || napi_get_value_external(env, argv[0], &data) != napi_ok)
    return throw_msg(env, "EINVAL", "abortPump(handle) takes the handle startPump returned");
  pump_t *p = data;
  if (!p->finished) {
    uint64_t one = 1;
    ssize_t r = write(p->abort_fd, &one, sizeof one);
    (void)r;  // EAGAIN only when already signalled many times: the transfer is ending anyway
  }
  return NULL;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
    { "startPump", NULL, start_pump, NULL, NULL, NULL, napi_enumerable, NULL },
    { "abortPump", NULL, abort_pump, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
