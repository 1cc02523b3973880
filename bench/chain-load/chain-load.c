// A load generator for calls whose answer carries the next request's credential (RefreshToken:
// each answer's refresh token is the one the next call spends), over h2c with nghttp2 or over
// HTTP/1.1 (written here: one connection per user, keep-alive, answers with a content-length).
//
// Why not our Node generator (bench/lib/load.ts): it runs on V8 too, and its own garbage
// collections (its node:http2 client promotes and keeps header strings as the server's does)
// stalled calls it then counted as the server's tail. This one allocates nothing per call after
// start and has no collector, so a slow call it reports is the server's (or the kernel's).
//
// Semantics are load.ts's: virtual users (one chain each) spread over a few connections, at most
// one call in flight per user; closed loop (rate 0) or calls started on a schedule, a call whose
// user is busy waiting for the longest idle one and timed from when it was due (no coordinated
// omission). A call counts when it was due within the measured period and answered by its end.
//
// usage: chain-load PROTOCOL PORT CONNECTIONS WARMUP_MS MEASURE_MS RATE PATH FIELD [HEADER VALUE]... < tokens
//   PROTOCOL: h2c (users spread over CONNECTIONS) or h1 (a connection per user; CONNECTIONS unused).
//   tokens: one per line, one virtual user each. The request body is {"FIELD":"<token>"}; the
//   answer must be HTTP 200 and carry "FIELD":"<next token>". FIELD "-": no chain, the body is {}
//   and any HTTP 200 answer will do (the empty RPC, to compare with h2load); a line per user still.
//   HEADER VALUE pairs (lower-case names) are sent with every call, e.g. authorization "Bearer …".
// Prints one JSON object: ok, errors, answered, latencies (ms), starts (epoch ms of when each was
// due), failures (the first few), tokens (each user's current token, to go on from next run).
#define _GNU_SOURCE  // ppoll
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_TOKEN 512
#define MAX_BODY 8192
#define MAX_FAILURES 10

typedef struct conn conn_t;

typedef struct {
  int index;
  conn_t *conn;
  char token[MAX_TOKEN];
  char request[MAX_TOKEN + 64];
  size_t request_len, request_sent;
  char answer[MAX_BODY];
  size_t answer_len;
  int status;
  double due;  // monotonic ms the call was due
  int busy;
} user_t;

struct conn {
  int fd;
  nghttp2_session *session;  // h2c
  char out[MAX_TOKEN + 2048];  // h1: the request being written
  size_t out_len, out_sent;
};

static const char *path, *field;
static int chained;  // FIELD is not "-"
static int h1;       // PROTOCOL is h1
#define MAX_EXTRA 8
static nghttp2_nv headers[6 + MAX_EXTRA];
static size_t header_count;
static char authority[64];
static double measure_from, end_at;
static long ok_count, error_count, answered;
static double *latencies, *starts;
static long recorded, capacity;
static char *failures[MAX_FAILURES];
static int failure_count;
static double epoch_offset;  // realtime ms - monotonic ms, taken once
static int *idle, idle_head, idle_len, user_count;  // a FIFO ring of idle users
static double *backlog;
static long backlog_head, backlog_len, backlog_cap;
static long in_flight;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void fail(const char *what) {
  fprintf(stderr, "chain-load: %s: %s\n", what, strerror(errno));
  exit(2);
}

static void note_failure(const char *text) {
  if (failure_count < MAX_FAILURES) failures[failure_count++] = strdup(text);
}

static void push_idle(int i) { idle[(idle_head + idle_len++) % user_count] = i; }

static void push_backlog(double due) {
  if (backlog_len == backlog_cap) {
    double *grown = malloc(sizeof(double) * (size_t)backlog_cap * 2);
    for (long k = 0; k < backlog_len; k++) grown[k] = backlog[(backlog_head + k) % backlog_cap];
    free(backlog);
    backlog = grown;
    backlog_head = 0;
    backlog_cap *= 2;
  }
  backlog[(backlog_head + backlog_len++) % backlog_cap] = due;
}

static void flush_h1(conn_t *c) {
  while (c->out_sent < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) fail("send");
    c->out_sent += (size_t)n;
  }
}

static ssize_t read_request(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                            nghttp2_data_source *source, void *data) {
  (void)s, (void)id, (void)data;
  user_t *u = source->ptr;
  size_t n = u->request_len - u->request_sent;
  if (n > length) n = length;
  memcpy(buf, u->request + u->request_sent, n);
  u->request_sent += n;
  if (u->request_sent == u->request_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

static nghttp2_nv header(const char *name, const char *value) {
  return (nghttp2_nv){(uint8_t *)name, (uint8_t *)value, strlen(name), strlen(value), NGHTTP2_NV_FLAG_NONE};
}

// Appends to the HTTP/1.1 request being built in c->out at *n; a request that does not fit stops
// the run (before anything is written past the buffer).
__attribute__((format(printf, 3, 4))) static void append(conn_t *c, size_t *n, const char *format, ...) {
  va_list args;
  va_start(args, format);
  int written = vsnprintf(c->out + *n, sizeof c->out - *n, format, args);
  va_end(args);
  if (written < 0 || (size_t)written >= sizeof c->out - *n) {
    fprintf(stderr, "chain-load: request too long\n");
    exit(2);
  }
  *n += (size_t)written;
}

static void launch(user_t *u, double due) {
  u->busy = 1;
  u->due = due;
  u->status = 0;
  u->answer_len = 0;
  u->answer[0] = 0;
  u->request_sent = 0;
  int body_len = chained ? snprintf(u->request, sizeof u->request, "{\"%s\":\"%s\"}", field, u->token)
                         : snprintf(u->request, sizeof u->request, "{}");
  if (body_len < 0 || (size_t)body_len >= sizeof u->request) {
    fprintf(stderr, "chain-load: request body too long\n");
    exit(2);
  }
  u->request_len = (size_t)body_len;
  if (h1) {
    conn_t *c = u->conn;
    size_t n = 0;
    append(c, &n, "POST %s HTTP/1.1\r\nhost: %s\r\ncontent-length: %zu\r\n", path, authority, u->request_len);
    for (size_t k = 4; k < header_count; k++)  // after :method, :scheme, :authority and :path
      append(c, &n, "%s: %s\r\n", (char *)headers[k].name, (char *)headers[k].value);
    append(c, &n, "\r\n%s", u->request);
    c->out_len = n;
    c->out_sent = 0;
    in_flight++;
    flush_h1(c);
    return;
  }
  nghttp2_data_provider body = {.source = {.ptr = u}, .read_callback = read_request};
  if (nghttp2_submit_request(u->conn->session, NULL, headers, header_count, &body, u) < 0) {
    fprintf(stderr, "chain-load: cannot submit a request\n");
    exit(2);
  }
  in_flight++;
}

// The answer's next token: the string value of "FIELD":"...".
static int take_token(user_t *u) {
  char key[80];
  int key_len = snprintf(key, sizeof key, "\"%s\":\"", field);
  char *at = strstr(u->answer, key);
  if (at == NULL) return 0;
  at += key_len;
  char *close = strchr(at, '"');
  if (close == NULL || close - at >= MAX_TOKEN) return 0;
  memcpy(u->token, at, (size_t)(close - at));
  u->token[close - at] = 0;
  return 1;
}

static void answered_call(user_t *u, int good, const char *why) {
  double now = now_ms();
  answered++;
  in_flight--;
  u->busy = 0;
  if (!good) {
    char text[300];
    snprintf(text, sizeof text, "%s: %s %d %.200s", path, why, u->status, u->answer);
    note_failure(text);
  }
  if (u->due >= measure_from && now <= end_at) {
    if (good) {
      ok_count++;
      if (recorded == capacity) {
        capacity *= 2;
        latencies = realloc(latencies, sizeof(double) * (size_t)capacity);
        starts = realloc(starts, sizeof(double) * (size_t)capacity);
      }
      latencies[recorded] = now - u->due;
      starts[recorded++] = epoch_offset + u->due;
    } else {
      error_count++;
    }
  }
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name, size_t name_len,
                     const uint8_t *value, size_t value_len, uint8_t flags, void *data) {
  (void)flags, (void)data;
  if (frame->hd.type != NGHTTP2_HEADERS || name_len != 7 || memcmp(name, ":status", 7) != 0) return 0;
  user_t *u = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
  if (u != NULL) {
    char digits[8] = {0};
    memcpy(digits, value, value_len < 7 ? value_len : 7);
    u->status = atoi(digits);
  }
  return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud) {
  (void)flags, (void)ud;
  user_t *u = nghttp2_session_get_stream_user_data(s, id);
  if (u == NULL) return 0;
  size_t room = sizeof u->answer - 1 - u->answer_len;
  if (len > room) len = room;
  memcpy(u->answer + u->answer_len, data, len);
  u->answer_len += len;
  u->answer[u->answer_len] = 0;
  return 0;
}

static void next_for(user_t *u) {
  // Closed loop: again at once. Scheduled: the oldest waiting call, else idle.
  double now = now_ms();
  if (now >= end_at) return;
  if (backlog_cap == 0) {
    launch(u, now);
  } else if (backlog_len > 0) {
    double due = backlog[backlog_head];
    backlog_head = (backlog_head + 1) % backlog_cap;
    backlog_len--;
    launch(u, due);
  } else {
    push_idle(u->index);
  }
}

// A call's answer is in (u->status, u->answer holding the body), or the stream was reset.
static void complete(user_t *u, int reset) {
  int good = !reset && u->status == 200 && (!chained || take_token(u));
  answered_call(u, good, reset ? "stream reset" : "answer");
  next_for(u);
}

static int on_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud) {
  (void)ud;
  user_t *u = nghttp2_session_get_stream_user_data(s, id);
  if (u != NULL) complete(u, error_code != 0);
  return 0;
}

// h1: what has arrived of the answer is in u->answer. Once it is whole, leaves its body there and
// completes the call. A malformed answer, or one without a content-length, stops the run.
static void take_h1_answer(user_t *u) {
  u->answer[u->answer_len] = 0;
  char *end = strstr(u->answer, "\r\n\r\n");
  if (end == NULL) {
    if (u->answer_len >= sizeof u->answer - 1) {
      fprintf(stderr, "chain-load: an answer's headers do not fit\n");
      exit(2);
    }
    return;
  }
  if (strncmp(u->answer, "HTTP/1.1 ", 9) != 0) {
    fprintf(stderr, "chain-load: not an HTTP/1.1 answer: %.80s\n", u->answer);
    exit(2);
  }
  size_t head = (size_t)(end - u->answer) + 4;
  long length = -1;
  for (char *line = strstr(u->answer, "\r\n"); line != NULL && line < end; line = strstr(line + 2, "\r\n")) {
    if (strncasecmp(line + 2, "content-length:", 15) == 0) length = atol(line + 17);
  }
  if (length < 0 || head + (size_t)length >= sizeof u->answer) {
    fprintf(stderr, "chain-load: an answer without a content-length, or too long\n");
    exit(2);
  }
  if (u->answer_len < head + (size_t)length) return;
  if (u->answer_len > head + (size_t)length) {
    fprintf(stderr, "chain-load: more bytes than the answer\n");
    exit(2);
  }
  u->status = atoi(u->answer + 9);
  memmove(u->answer, u->answer + head, (size_t)length);
  u->answer_len = (size_t)length;
  u->answer[length] = 0;
  complete(u, 0);
}

static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud) {
  (void)s, (void)flags;
  conn_t *c = ud;
  ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? NGHTTP2_ERR_WOULDBLOCK : NGHTTP2_ERR_CALLBACK_FAILURE;
  return n;
}

static void open_socket(conn_t *c, int port) {
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (c->fd < 0) fail("socket");
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0) fail("connect");
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
}

static void open_h2(conn_t *c, int port) {
  open_socket(c, port);
  nghttp2_session_callbacks *cb;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_send_callback(cb, on_send);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
  nghttp2_session_client_new(&c->session, cb, c);
  nghttp2_session_callbacks_del(cb);
  nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000},
                                       {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
  nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, 2);
}

static void print_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') printf("\\%c", ch);
    else if (ch < 0x20) printf("\\u%04x", ch);
    else putchar(ch);
  }
  putchar('"');
}

int main(int argc, char **argv) {
  if (argc < 9 || (argc - 9) % 2 != 0 || (argc - 9) / 2 > MAX_EXTRA ||
      (strcmp(argv[1], "h2c") != 0 && strcmp(argv[1], "h1") != 0)) {
    fprintf(stderr, "usage: chain-load h2c|h1 PORT CONNECTIONS WARMUP_MS MEASURE_MS RATE PATH FIELD [HEADER VALUE]... < tokens\n");
    return 2;
  }
  h1 = strcmp(argv[1], "h1") == 0;
  int port = atoi(argv[2]), connections = atoi(argv[3]);
  double warm_up = atof(argv[4]), measure = atof(argv[5]), rate = atof(argv[6]);
  path = argv[7];
  field = argv[8];
  chained = strcmp(field, "-") != 0;
  if (strlen(field) > 64) {
    fprintf(stderr, "chain-load: FIELD longer than 64 bytes\n");
    return 2;
  }
  snprintf(authority, sizeof authority, "127.0.0.1:%d", port);
  const char *fixed[][2] = {{":method", "POST"},
                            {":scheme", "http"},
                            {":authority", authority},
                            {":path", path},
                            {"content-type", "application/json"},
                            {"connect-protocol-version", "1"}};
  for (size_t k = 0; k < 6; k++) headers[header_count++] = header(fixed[k][0], fixed[k][1]);
  for (int k = 9; k + 1 < argc; k += 2) headers[header_count++] = header(argv[k], argv[k + 1]);

  static char line[MAX_TOKEN + 2];
  user_t *users = NULL;
  while (fgets(line, sizeof line, stdin) != NULL) {
    line[strcspn(line, "\r\n")] = 0;
    if (line[0] == 0) continue;
    users = realloc(users, sizeof(user_t) * (size_t)(user_count + 1));
    memset(&users[user_count], 0, sizeof(user_t));
    users[user_count].index = user_count;
    if (strlen(line) >= MAX_TOKEN) {
      fprintf(stderr, "chain-load: a token longer than %d bytes\n", MAX_TOKEN - 1);
      return 2;
    }
    strcpy(users[user_count].token, line);
    user_count++;
  }
  if (user_count == 0 || connections < 1) {
    fprintf(stderr, "chain-load: no tokens on stdin\n");
    return 2;
  }
  if (connections > user_count || h1) connections = user_count;
  conn_t *conns = calloc((size_t)connections, sizeof(conn_t));
  for (int k = 0; k < connections; k++) h1 ? open_socket(&conns[k], port) : open_h2(&conns[k], port);
  idle = calloc((size_t)user_count, sizeof(int));
  for (int i = 0; i < user_count; i++) users[i].conn = &conns[i % connections];
  capacity = 1 << 16;
  latencies = malloc(sizeof(double) * (size_t)capacity);
  starts = malloc(sizeof(double) * (size_t)capacity);

  struct timespec real;
  clock_gettime(CLOCK_REALTIME, &real);
  double start = now_ms();
  epoch_offset = real.tv_sec * 1e3 + real.tv_nsec / 1e6 - start;
  measure_from = start + warm_up;
  end_at = measure_from + measure;

  long started = 0;
  if (rate <= 0) {
    for (int i = 0; i < user_count; i++) launch(&users[i], start);
  } else {
    backlog_cap = 1024;
    backlog = malloc(sizeof(double) * (size_t)backlog_cap);
    for (int i = 0; i < user_count; i++) push_idle(i);
  }

  struct pollfd *fds = calloc((size_t)connections, sizeof(struct pollfd));
  static uint8_t buf[1 << 16];
  for (;;) {
    double now = now_ms();
    if (rate > 0 && now < end_at) {
      // Calls 0..due-1 are those due by now (call k at start + k/rate): floor + 1, or each would
      // start a period late and be timed from before it started.
      long due = (long)((now - start) / 1000 * rate) + 1;
      for (; started < due; started++) {
        double at = start + started / rate * 1000;
        if (idle_len > 0) {
          int i = idle[idle_head];
          idle_head = (idle_head + 1) % user_count;
          idle_len--;
          launch(&users[i], at);
        } else {
          push_backlog(at);
        }
      }
    }
    if (now >= end_at && in_flight == 0) break;
    for (int k = 0; k < connections; k++) {
      fds[k].fd = conns[k].fd;
      if (h1) {
        flush_h1(&conns[k]);
        fds[k].events = POLLIN | (conns[k].out_sent < conns[k].out_len ? POLLOUT : 0);
        continue;
      }
      if (nghttp2_session_send(conns[k].session) != 0) {
        fprintf(stderr, "chain-load: the connection failed\n");
        return 2;
      }
      fds[k].events = POLLIN | (nghttp2_session_want_write(conns[k].session) ? POLLOUT : 0);
    }
    // Wake for the next scheduled call (to the 0.1 ms) or, closed loop, for answers.
    double wait = 100;
    if (rate > 0 && now < end_at) wait = start + started / rate * 1000 - now;
    if (wait < 0) wait = 0;
    struct timespec timeout = {.tv_sec = (time_t)(wait / 1000), .tv_nsec = (long)((wait - (long)(wait / 1000) * 1000) * 1e6)};
    if (ppoll(fds, (nfds_t)connections, &timeout, NULL) < 0 && errno != EINTR) fail("poll");
    for (int k = 0; k < connections; k++) {
      if (!(fds[k].revents & (POLLIN | POLLERR | POLLHUP))) continue;
      for (;;) {
        ssize_t n = recv(conns[k].fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n <= 0) {
          fprintf(stderr, "chain-load: the server closed a connection\n");
          return 2;
        }
        if (h1) {
          user_t *u = &users[k];  // h1: connection k is user k's
          if (!u->busy || u->answer_len + (size_t)n >= sizeof u->answer) {
            fprintf(stderr, "chain-load: bytes the server was not asked for\n");
            return 2;
          }
          memcpy(u->answer + u->answer_len, buf, (size_t)n);
          u->answer_len += (size_t)n;
          take_h1_answer(u);
          continue;
        }
        if (nghttp2_session_mem_recv(conns[k].session, buf, (size_t)n) < 0) {
          fprintf(stderr, "chain-load: bad HTTP/2 from the server\n");
          return 2;
        }
      }
    }
  }

  printf("{\"ok\":%ld,\"errors\":%ld,\"answered\":%ld,\"latencies\":[", ok_count, error_count, answered);
  for (long k = 0; k < recorded; k++) printf(k ? ",%.4f" : "%.4f", latencies[k]);
  printf("],\"starts\":[");
  for (long k = 0; k < recorded; k++) printf(k ? ",%.3f" : "%.3f", starts[k]);
  printf("],\"failures\":[");
  for (int k = 0; k < failure_count; k++) {
    if (k) putchar(',');
    print_string(failures[k]);
  }
  printf("],\"tokens\":[");
  for (int i = 0; i < user_count; i++) {
    if (i) putchar(',');
    print_string(users[i].token);
  }
  printf("]}\n");
  for (int k = 0; k < connections; k++) {
    if (!h1) {
      nghttp2_session_terminate_session(conns[k].session, NGHTTP2_NO_ERROR);
      nghttp2_session_send(conns[k].session);
    }
    close(conns[k].fd);
  }
  return 0;
}
