// A load generator for calls whose answer carries the next request's credential (RefreshToken:
// each answer's refresh token is the one the next call spends), over h2c with nghttp2.
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
// usage: chain-load PORT CONNECTIONS WARMUP_MS MEASURE_MS RATE PATH FIELD < tokens
//   tokens: one per line, one virtual user each. The request body is {"FIELD":"<token>"}; the
//   answer must be HTTP 200 and carry "FIELD":"<next token>". FIELD "-": no chain, the body is {}
//   and any HTTP 200 answer will do (the empty RPC, to compare with h2load); a line per user still.
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
  nghttp2_session *session;
};

static const char *path, *field;
static int chained;  // FIELD is not "-"
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

static void launch(user_t *u, double due) {
  u->busy = 1;
  u->due = due;
  u->status = 0;
  u->answer_len = 0;
  u->answer[0] = 0;
  u->request_sent = 0;
  u->request_len = chained ? (size_t)snprintf(u->request, sizeof u->request, "{\"%s\":\"%s\"}", field, u->token)
                           : (size_t)snprintf(u->request, sizeof u->request, "{}");
  nghttp2_nv headers[] = {
      {(uint8_t *)":method", (uint8_t *)"POST", 7, 4, NGHTTP2_NV_FLAG_NONE},
      {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, NGHTTP2_NV_FLAG_NONE},
      {(uint8_t *)":authority", (uint8_t *)authority, 10, strlen(authority), NGHTTP2_NV_FLAG_NONE},
      {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), NGHTTP2_NV_FLAG_NONE},
      {(uint8_t *)"content-type", (uint8_t *)"application/json", 12, 16, NGHTTP2_NV_FLAG_NONE},
      {(uint8_t *)"connect-protocol-version", (uint8_t *)"1", 24, 1, NGHTTP2_NV_FLAG_NONE},
  };
  nghttp2_data_provider body = {.source = {.ptr = u}, .read_callback = read_request};
  if (nghttp2_submit_request(u->conn->session, NULL, headers, sizeof headers / sizeof headers[0], &body, u) < 0) {
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

static int on_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud);

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

static int on_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud) {
  (void)ud;
  user_t *u = nghttp2_session_get_stream_user_data(s, id);
  if (u == NULL) return 0;
  int good = error_code == 0 && u->status == 200 && (!chained || take_token(u));
  answered_call(u, good, error_code != 0 ? "stream reset" : "answer");
  next_for(u);
  return 0;
}

static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud) {
  (void)s, (void)flags;
  conn_t *c = ud;
  ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? NGHTTP2_ERR_WOULDBLOCK : NGHTTP2_ERR_CALLBACK_FAILURE;
  return n;
}

static void open_conn(conn_t *c, int port) {
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (c->fd < 0) fail("socket");
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0) fail("connect");
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
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
  if (argc != 8) {
    fprintf(stderr, "usage: chain-load PORT CONNECTIONS WARMUP_MS MEASURE_MS RATE PATH FIELD < tokens\n");
    return 2;
  }
  int port = atoi(argv[1]), connections = atoi(argv[2]);
  double warm_up = atof(argv[3]), measure = atof(argv[4]), rate = atof(argv[5]);
  path = argv[6];
  field = argv[7];
  chained = strcmp(field, "-") != 0;
  snprintf(authority, sizeof authority, "127.0.0.1:%d", port);

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
  if (connections > user_count) connections = user_count;
  conn_t *conns = calloc((size_t)connections, sizeof(conn_t));
  for (int k = 0; k < connections; k++) open_conn(&conns[k], port);
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
      long due = (long)((now - start) / 1000 * rate);
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
      if (nghttp2_session_send(conns[k].session) != 0) {
        fprintf(stderr, "chain-load: the connection failed\n");
        return 2;
      }
      fds[k].fd = conns[k].fd;
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
    nghttp2_session_terminate_session(conns[k].session, NGHTTP2_NO_ERROR);
    nghttp2_session_send(conns[k].session);
    close(conns[k].fd);
  }
  return 0;
}
