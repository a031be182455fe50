// @ambit/netns native part: the few Linux socket and namespace calls Node has no API for.
// Plain C against node_api.h (N-API is ABI-stable, so one build serves every Node >= 18).
// Every function is synchronous and small; the TypeScript wrapper (src/index.ts) validates
// arguments and turns the thrown errors ({ errno, syscall }) into MeshErrors.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NAPI_VERSION 8
#include <node_api.h>

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80 /* linux/netfilter_ipv4.h */
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80 /* linux/netfilter_ipv6/ip6_tables.h */
#endif
#ifndef IP_TRANSPARENT
#define IP_TRANSPARENT 19
#endif
#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif
#ifndef IP_FREEBIND
#define IP_FREEBIND 15
#endif
#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

/* Flags of socketInNetns (mirrored in src/index.ts). */
#define F_TRANSPARENT 1u
#define F_FREEBIND 2u
#define F_REUSEADDR 4u
#define F_LISTEN 8u
#define F_BIND 16u
#define F_MARK 32u

/* Where the thread's own network namespace is; relative to /proc so it names this thread, not the
 * process's main thread. */
static const char SELF_NETNS[] = "/proc/thread-self/ns/net";

#define CHECK(call)                                                                               \
  do {                                                                                            \
    if ((call) != napi_ok) {                                                                      \
      napi_throw_error(env, NULL, "ambit_netns: N-API call failed: " #call);                    \
      return NULL;                                                                                \
    }                                                                                             \
  } while (0)

/* Throws Error(`${syscall}: ${strerror(err)}`) with numeric `errno` and string `syscall`. */
static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(err));
  napi_value message, error, v;
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message) != napi_ok) return NULL;
  if (napi_create_error(env, NULL, message, &error) != napi_ok) return NULL;
  if (napi_create_int32(env, err, &v) == napi_ok) napi_set_named_property(env, error, "errno", v);
  if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, error, "syscall", v);
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  return argc == want;
}

static int get_int32(napi_env env, napi_value v, int32_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return 0;
  return napi_get_value_int32(env, v, out) == napi_ok;
}

static int get_uint32(napi_env env, napi_value v, uint32_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return 0;
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

static int get_string(napi_env env, napi_value v, char *buf, size_t size) {
  size_t len = 0;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return 0;
  if (napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok) return 0;
  return len + 1 < size; /* reject silently truncated strings */
}

/* Parses address text for `family` (4 or 6) into ss; returns the sockaddr length or 0. */
static socklen_t make_sockaddr(int family, const char *address, uint32_t port,
                               struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (family == 4) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, address, &sin->sin_addr) != 1) return 0;
    return sizeof *sin;
  }
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons((uint16_t)port);
  if (inet_pton(AF_INET6, address, &sin6->sin6_addr) != 1) return 0;
  return sizeof *sin6;
}

/* { address, port, family } from a sockaddr. */
static napi_value sockaddr_to_js(napi_env env, const struct sockaddr_storage *ss) {
  char text[INET6_ADDRSTRLEN];
  uint16_t port;
  int family;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
    port = ntohs(sin->sin_port);
    family = 4;
  } else {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
    port = ntohs(sin6->sin6_port);
    family = 6;
  }
  napi_value obj, v;
  CHECK(napi_create_object(env, &obj));
  CHECK(napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, obj, "address", v));
  CHECK(napi_create_uint32(env, port, &v));
  CHECK(napi_set_named_property(env, obj, "port", v));
  CHECK(napi_create_uint32(env, (uint32_t)family, &v));
  CHECK(napi_set_named_property(env, obj, "family", v));
  return obj;
}

/* originalDst(fd) -> { address, port, family }. IPv4 conntrack for AF_INET sockets and for
 * v4-mapped peers of AF_INET6 sockets; IP6T_SO_ORIGINAL_DST for real IPv6. */
static napi_value original_dst(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !get_int32(env, argv[0], &fd))
    return throw_type(env, "originalDst(fd: number)");
  struct sockaddr_storage local;
  socklen_t len = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &len) != 0)
    return throw_errno(env, "getsockname", errno);
  int v4 = local.ss_family == AF_INET ||
           (local.ss_family == AF_INET6 &&
            IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&local)->sin6_addr));
  struct sockaddr_storage dst;
  memset(&dst, 0, sizeof dst);
  if (v4) {
    len = sizeof(struct sockaddr_in);
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len) != 0)
      return throw_errno(env, "getsockopt(SO_ORIGINAL_DST)", errno);
  } else {
    len = sizeof(struct sockaddr_in6);
    if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &dst, &len) != 0)
      return throw_errno(env, "getsockopt(IP6T_SO_ORIGINAL_DST)", errno);
  }
  return sockaddr_to_js(env, &dst);
}

/* Sets IP(V6)_TRANSPARENT or IP(V6)_FREEBIND according to the socket's family; 0 or errno. */
static int set_ip_flag(int fd, int family, int v4opt, int v6opt, int on) {
  int r = family == 4 ? setsockopt(fd, SOL_IP, v4opt, &on, sizeof on)
                      : setsockopt(fd, SOL_IPV6, v6opt, &on, sizeof on);
  return r == 0 ? 0 : errno;
}

static int fd_family(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -errno;
  return ss.ss_family == AF_INET6 ? 6 : 4;
}

/* The part of socketInNetns that runs inside the target netns. Returns the fd, or -1 with
 * *failed naming the syscall and errno set. Must not leave the thread. */
static int make_socket(int family, uint32_t flags, uint32_t mark, const struct sockaddr_storage *addr,
                       socklen_t addrlen, int32_t backlog, const char **failed) {
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *failed = "socket";
    return -1;
  }
  int one = 1, err = 0;
  if (!err && (flags & F_REUSEADDR) && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one))
    err = errno, *failed = "setsockopt(SO_REUSEADDR)";
  if (!err && (flags & F_MARK) && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark))
    err = errno, *failed = "setsockopt(SO_MARK)";
  if (!err && (flags & F_TRANSPARENT) &&
      (err = set_ip_flag(fd, family, IP_TRANSPARENT, IPV6_TRANSPARENT, 1)))
    *failed = "setsockopt(IP_TRANSPARENT)";
  if (!err && (flags & F_FREEBIND) && (err = set_ip_flag(fd, family, IP_FREEBIND, IPV6_FREEBIND, 1)))
    *failed = "setsockopt(IP_FREEBIND)";
  if (!err && (flags & (F_BIND | F_LISTEN)) && bind(fd, (const struct sockaddr *)addr, addrlen))
    err = errno, *failed = "bind";
  if (!err && (flags & F_LISTEN) && listen(fd, backlog))
    err = errno, *failed = "listen";
  if (err) {
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

/* Runs inside the target netns and comes back. Returns the fd or -1 with *failed and errno. */
static int in_netns(const char *path, int family, uint32_t flags, uint32_t mark,
                    const struct sockaddr_storage *addr, socklen_t addrlen, int32_t backlog,
                    int create, const char **failed) {
  int self = open(SELF_NETNS, O_RDONLY | O_CLOEXEC);
  if (self < 0) {
    *failed = "open(/proc/thread-self/ns/net)";
    return -1;
  }
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int err = errno;
    close(self);
    *failed = "open";
    errno = err;
    return -1;
  }
  if (setns(target, CLONE_NEWNET) != 0) {
    int err = errno;
    close(target);
    close(self);
    *failed = "setns";
    errno = err;
    return -1;
  }
  int fd = create ? make_socket(family, flags, mark, addr, addrlen, backlog, failed) : 0;
  int err = errno;
  if (setns(self, CLONE_NEWNET) != 0) {
    /* This thread (the JS thread) now lives in the wrong netns: every later socket would be
     * created in a pod. There is no safe way to continue. */
    fprintf(stderr, "ambit_netns: cannot return to the original network namespace: %s\n",
            strerror(errno));
    abort();
  }
  close(target);
  close(self);
  errno = err;
  return fd;
}

/* socketInNetns(path, family, flags, mark, address, port, backlog) -> fd.
 * mark: used only with F_MARK. address: ignored unless flags has F_BIND or F_LISTEN. */
static napi_value socket_in_netns(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  char path[4096], address[INET6_ADDRSTRLEN + 1] = "";
  int32_t family, backlog;
  uint32_t flags, mark, port;
  if (!get_args(env, info, 7, argv) || !get_string(env, argv[0], path, sizeof path) ||
      !get_int32(env, argv[1], &family) || (family != 4 && family != 6) ||
      !get_uint32(env, argv[2], &flags) || !get_uint32(env, argv[3], &mark) ||
      !get_uint32(env, argv[5], &port) || port > 65535 || !get_int32(env, argv[6], &backlog))
    return throw_type(env, "socketInNetns(path, family, flags, mark, address, port, backlog)");
  struct sockaddr_storage ss;
  socklen_t sslen = 0;
  if (flags & (F_BIND | F_LISTEN)) {
    if (!get_string(env, argv[4], address, sizeof address) ||
        !(sslen = make_sockaddr(family, address, port, &ss)))
      return throw_type(env, "socketInNetns: address is not an IP address of the family");
  }
  const char *failed = "";
  int fd = in_netns(path, family, flags, mark, &ss, sslen, backlog, 1, &failed);
  if (fd < 0) return throw_errno(env, failed, errno);
  napi_value out;
  CHECK(napi_create_int32(env, fd, &out));
  return out;
}

/* enterNetns(path): open + setns + restore, nothing else. Checks access; used by the benchmark. */
static napi_value enter_netns(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char path[4096];
  if (!get_args(env, info, 1, argv) || !get_string(env, argv[0], path, sizeof path))
    return throw_type(env, "enterNetns(path: string)");
  const char *failed = "";
  if (in_netns(path, 4, 0, 0, NULL, 0, 0, 0, &failed) < 0) return throw_errno(env, failed, errno);
  return NULL;
}

static napi_value set_mark(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  uint32_t mark;
  if (!get_args(env, info, 2, argv) || !get_int32(env, argv[0], &fd) ||
      !get_uint32(env, argv[1], &mark))
    return throw_type(env, "setMark(fd: number, mark: number)");
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0)
    return throw_errno(env, "setsockopt(SO_MARK)", errno);
  return NULL;
}

static napi_value get_mark(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  int32_t fd;
  uint32_t mark = 0;
  socklen_t len = sizeof mark;
  if (!get_args(env, info, 1, argv) || !get_int32(env, argv[0], &fd))
    return throw_type(env, "getMark(fd: number)");
  if (getsockopt(fd, SOL_SOCKET, SO_MARK, &mark, &len) != 0)
    return throw_errno(env, "getsockopt(SO_MARK)", errno);
  CHECK(napi_create_uint32(env, mark, &out));
  return out;
}

/* setIpFlag(fd, which, on): which 1 = transparent, 2 = freebind; by the socket's family. */
static napi_value set_ip_flag_js(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd;
  uint32_t which;
  bool on;
  if (!get_args(env, info, 3, argv) || !get_int32(env, argv[0], &fd) ||
      !get_uint32(env, argv[1], &which) || (which != 1 && which != 2) ||
      napi_get_value_bool(env, argv[2], &on) != napi_ok)
    return throw_type(env, "setIpFlag(fd: number, which: 1 | 2, on: boolean)");
  int family = fd_family(fd);
  if (family < 0) return throw_errno(env, "getsockname", -family);
  int err = which == 1 ? set_ip_flag(fd, family, IP_TRANSPARENT, IPV6_TRANSPARENT, on)
                       : set_ip_flag(fd, family, IP_FREEBIND, IPV6_FREEBIND, on);
  if (err)
    return throw_errno(env, which == 1 ? "setsockopt(IP_TRANSPARENT)" : "setsockopt(IP_FREEBIND)",
                       err);
  return NULL;
}

/* bindTo(fd, address, port): binds an unconnected socket (family from the socket). */
static napi_value bind_to(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd;
  uint32_t port;
  char address[INET6_ADDRSTRLEN + 1];
  if (!get_args(env, info, 3, argv) || !get_int32(env, argv[0], &fd) ||
      !get_string(env, argv[1], address, sizeof address) || !get_uint32(env, argv[2], &port) ||
      port > 65535)
    return throw_type(env, "bindTo(fd: number, address: string, port: number)");
  int family = fd_family(fd);
  if (family < 0) return throw_errno(env, "getsockname", -family);
  struct sockaddr_storage ss;
  socklen_t len = make_sockaddr(family, address, port, &ss);
  if (!len) return throw_type(env, "bindTo: address is not an IP address of the socket's family");
  if (bind(fd, (struct sockaddr *)&ss, len) != 0) return throw_errno(env, "bind", errno);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"originalDst", NULL, original_dst, NULL, NULL, NULL, napi_enumerable, NULL},
      {"socketInNetns", NULL, socket_in_netns, NULL, NULL, NULL, napi_enumerable, NULL},
      {"enterNetns", NULL, enter_netns, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setMark", NULL, set_mark, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getMark", NULL, get_mark, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setIpFlag", NULL, set_ip_flag_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"bindTo", NULL, bind_to, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
