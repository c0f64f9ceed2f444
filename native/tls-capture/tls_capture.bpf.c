// SPDX-License-Identifier: GPL-2.0
/* The kernel side of `shark tap --tls`: uprobes on OpenSSL's SSL_write/SSL_read
 * (and their _ex forms) copy the plaintext of each call into a ring buffer,
 * tagged with the process, the socket fd and a byte offset per (process, fd,
 * direction) stream.
 *
 * The fd: OpenSSL does not hand it to SSL_write, so the read/write syscall
 * made on the same thread while the call is in flight names it (the approach
 * of Pixie's socket tracer); SSL_set_fd, and every call whose fd was learnt,
 * fill an ssl→fd table for calls served from OpenSSL's own buffer (no
 * syscall). Libraries that run OpenSSL over memory BIOs (node's TLSWrap)
 * make no socket syscall inside the call at all: for them the thread's
 * neighbouring socket I/O names the fd — the socket read just before an
 * SSL_read (node reads the socket, then decrypts what came), the socket write
 * just after an SSL_write (node encrypts, then writes the record out before
 * returning to JavaScript) — see "memory BIOs" below. The offset lets the reader see every byte that did not arrive —
 * ring full, a call larger than CHUNK * MAX_CHUNKS * MAX_BATCHES (16 MiB), an
 * unreadable page — as a gap of known length instead of losing it silently;
 * counters say why. A call's bytes are copied by copy_chunks, reached by
 * tail calls (see there).
 * Compiled against the running kernel's BTF (CO-RE): build.sh. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "tls_capture.h"

char LICENSE[] SEC("license") = "GPL";

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 * 1024 * 1024); /* the loader may resize it (--ring-size) */
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct tls_event);
} scratch SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, C_MAX);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

/* An SSL call in flight on a thread, from its entry to its return. */
struct active_call {
  __u64 ssl;
  __u64 buf;
  __u64 len_ptr; /* _ex forms: where the byte count is written */
  int fd;        /* from the syscall inside the call; -1 until seen */
  int wfd;       /* a write counted in flight on this fd (write_begins); -1: none */
  __u64 wino;    /* the socket inode wfd named when the write began (its stream, if the fd is closed meanwhile) */
  __u8 dir;
  __u8 ex;
  __u8 source;   /* tls_source */
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64); /* pid_tgid */
  __type(value, struct active_call);
} active SEC(".maps");

struct ssl_key {
  __u32 tgid;
  __u32 pad;
  __u64 ssl;
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct ssl_key);
  __type(value, int);
} ssl_fds SEC(".maps");

struct conn_key {
  __u32 tgid;
  int fd;
};

struct conn_pos {
  __u64 pos[2]; /* bytes seen so far, per direction */
  /* Bytes per direction whose events are already in the ring. An event's
   * other_pos reads this, not pos: a Go server reads and writes one
   * connection on two threads at once, and a write that has taken its offsets
   * but not yet reached the ring would otherwise be "acknowledged" by a read
   * that gets there first, which user space takes for lost bytes (the write
   * arriving next is then dropped as already passed). */
  __u64 published[2];
  /* Write calls in flight on this (process, fd), and when the latest began.
   * A read that returns while one is in flight is flagged
   * (EVF_WRITE_IN_FLIGHT): a Go HTTP/2 client writes a request on one
   * goroutine and reads the reply on another, and when the writer is
   * descheduled between its socket write and its return probe, the reply's
   * read reaches the ring first. A count leaked by a call that never
   * returned (a goroutine that died inside Write) stops counting after
   * WRITE_STALE_NS. */
  __u32 writing;
  __u64 write_at;
  /* The inode of the socket the fd named when this state was made (0: none).
   * An fd number is reused, and not always after a close this program saw (a
   * Go server's write probe can fire after its close syscall and make state
   * for a closed fd; dup2 and close_range close without close()). State for
   * another socket is begun afresh rather than carried over to the new
   * connection. The inode, not the struct sock's address: a socket freed and
   * the next one made often get the same address from the slab. */
  __u64 ino;
  __u16 family;
  __u16 lport;
  __u16 rport;
  __u8 laddr[16];
  __u8 raddr[16];
};

#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* The fd's socket addresses, read from the calling task's file table when a
 * (process, fd) is first seen: done here, not from /proc afterwards, because
 * a short-lived client (curl) is gone by the time user space reads its events. */
static __always_inline struct sock *sock_of_fd(int fd, __u64 *ino) {
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds)) return NULL;
  struct file **fds = BPF_CORE_READ(fdt, fd);
  struct file *f = NULL;
  if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) != 0 || !f) return NULL;
  if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK) return NULL;
  *ino = BPF_CORE_READ(f, f_inode, i_ino);
  struct socket *sock = BPF_CORE_READ(f, private_data);
  return BPF_CORE_READ(sock, sk);
}

static __always_inline void socket_of(struct sock *sk, struct conn_pos *c) {
  if (!sk) return;
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (family == AF_INET) {
    __u32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr), r = BPF_CORE_READ(sk, __sk_common.skc_daddr);
    __builtin_memcpy(c->laddr, &l, 4);
    __builtin_memcpy(c->raddr, &r, 4);
  } else if (family == AF_INET6) {
    BPF_CORE_READ_INTO(&c->laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
    BPF_CORE_READ_INTO(&c->raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
  } else {
    return;
  }
  c->family = family;
  c->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
  /* A connection already reset or closed when the fd's first call is seen (a
   * server reading a request whose client has sent RST behind it) has left the
   * port hash: inet_put_port zeroed skc_num, and the entry came out with port
   * 0 as its server's port (and, not matching the other end's copy, twice).
   * The port the connection was made or accepted with stays in inet_sport. */
  if (c->lport == 0) c->lport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
  c->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
}

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct conn_key);
  __type(value, struct conn_pos);
} conns SEC(".maps");

static __always_inline void count(__u32 which, __u64 n) {
  __u64 *c = bpf_map_lookup_elem(&counters, &which);
  if (c) *c += n;
}

#define WRITE_STALE_NS 1000000000ull

/* The (process, fd)'s stream state, made (with its socket's addresses) when
 * first seen, and made again when the fd now names another socket. */
static __always_inline struct conn_pos *conn_of(__u32 tgid, int fd) {
  struct conn_key ck = { .tgid = tgid, .fd = fd };
  __u64 ino = 0;
  struct sock *sk = sock_of_fd(fd, &ino);
  struct conn_pos *p = bpf_map_lookup_elem(&conns, &ck);
  if (p && p->ino == ino) return p;
  struct conn_pos fresh = { .ino = ino };
  socket_of(sk, &fresh);
  /* NOEXIST for a new fd: two threads making it at once share the first one's state. */
  bpf_map_update_elem(&conns, &ck, &fresh, p ? BPF_EXIST : BPF_NOEXIST);
  return bpf_map_lookup_elem(&conns, &ck);
}

/* Streams closed while a write on them was still in its call. A Go server
 * closes a connection on the goroutine that read the peer's close while
 * another goroutine is still returning from the write that sent the last
 * bytes (an HTTP/2 response's trailers): that write's probe fires after the
 * close, when the fd names no socket (or already another one). Its bytes
 * belong to the closed stream, at the offsets the close left; the close
 * event is flagged so that user space puts it after them (write-order.ts).
 * An entry goes when the last such write ends; LRU-bounded. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, struct conn_key);
  __type(value, struct conn_pos);
} closing SEC(".maps");

/* A write call on a known fd begins: counted in flight until write_ends. */
static __always_inline void write_begins(struct active_call *a, __u32 tgid, int fd) {
  struct conn_pos *p = conn_of(tgid, fd);
  if (!p) return;
  __sync_fetch_and_add(&p->writing, 1);
  p->write_at = bpf_ktime_get_ns();
  a->wfd = fd;
  a->wino = p->ino;
}

/* The closed stream a write in flight at its close belongs to, if the fd was closed meanwhile. */
static __always_inline struct conn_pos *closed_stream_of(struct active_call *a, __u32 tgid) {
  if (a->wfd < 0 || a->wino == 0) return NULL;
  struct conn_key ck = { .tgid = tgid, .fd = a->wfd };
  struct conn_pos *c = bpf_map_lookup_elem(&closing, &ck);
  return c && c->ino == a->wino ? c : NULL;
}

/* After the write's own events are in the ring: no longer in flight. */
static __always_inline void write_ends(struct active_call *a, __u32 tgid) {
  if (a->wfd < 0) return;
  struct conn_key ck = { .tgid = tgid, .fd = a->wfd };
  struct conn_pos *c = closed_stream_of(a, tgid);
  if (c) {
    /* The closed stream's last write: nothing more will come for it. */
    if (c->writing <= 1) bpf_map_delete_elem(&closing, &ck);
    else __sync_fetch_and_add(&c->writing, (__u32)-1);
    a->wfd = -1;
    return;
  }
  struct conn_pos *p = bpf_map_lookup_elem(&conns, &ck);
  if (p && p->writing > 0) __sync_fetch_and_add(&p->writing, (__u32)-1); /* a decrement: subtraction has no BPF atomic before v3 */
  a->wfd = -1;
}

static __always_inline int enter(__u64 ssl, __u64 buf, __u64 len_ptr, __u8 dir, __u8 ex) {
  __u64 id = bpf_get_current_pid_tgid();
  struct active_call a = { .ssl = ssl, .buf = buf, .len_ptr = len_ptr, .fd = -1, .wfd = -1, .dir = dir, .ex = ex };
  /* Nested calls (an _ex inside a plain one in some builds): the outer call reports. */
  if (bpf_map_update_elem(&active, &id, &a, BPF_NOEXIST) != 0) {
    if (!bpf_map_lookup_elem(&active, &id)) count(C_ACTIVE_FULL, 1);
    return 0;
  }
  if (dir != DIR_WRITE) return 0;
  /* A write on an SSL* whose socket is known: in flight from here (a first call learns its fd later). */
  struct ssl_key sk = { .tgid = id >> 32, .ssl = ssl };
  int *fd = bpf_map_lookup_elem(&ssl_fds, &sk);
  struct active_call *in = bpf_map_lookup_elem(&active, &id);
  if (fd && in) write_begins(in, id >> 32, *fd);
  return 0;
}

/* A call being copied, between the runs of copy_chunks, keyed by its thread.
 * Not per CPU: a uprobe program runs with migration off but may be
 * preempted (PREEMPT kernels), and a program of another task on that CPU
 * would then overwrite a per-CPU state in the middle of the call. The
 * per-CPU `scratch` only holds one chunk at a time, its header written
 * again from here for each chunk. */
struct copy_state {
  __u64 buf;
  __u64 start;   /* the call's offset in its stream */
  __u64 total;   /* the call's bytes */
  __u64 off;     /* bytes of the call handled so far (output, lost or unreadable) */
  __u64 ino;     /* the stream's socket inode: its state is found again by (tgid, fd) and this */
  __u64 wino;    /* the write counted in flight (active_call.wfd/wino): it ends after the last chunk */
  __u32 tgid;
  int fd;
  int wfd;
  __u32 batch;   /* runs of copy_chunks before this one */
  __u8 dir;
  __u8 closed;   /* the stream is a closed one, in `closing` */
  __u8 head[TLS_EVENT_HEADER]; /* the event header every chunk carries (pos, len, skipped set per chunk) */
};

/* Not LRU: a state in use must not be evicted by another CPU's call. Full
 * (never, in practice): the call is counted as skipped. Each entry goes at its
 * call's end, and a thread's next call replaces one left over. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096); /* calls being copied at once: one per CPU, more only when preempted */
  __type(key, __u64); /* pid_tgid */
  __type(value, struct copy_state);
} copying SEC(".maps");

/* Where a copy state is made before it goes into `copying` (too large for the stack). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct copy_state);
} copy_new SEC(".maps");

int copy_chunks(struct pt_regs *ctx);

/* copy_chunks, reached by bpf_tail_call: the chunk loop lives in a program of
 * its own. Inlined into the return probes it made the verifier walk every
 * chunk there (go_return: over a million instructions at 64 chunks). */
struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 1);
  __uint(key_size, sizeof(__u32));
  __array(values, int(struct pt_regs *));
} copiers SEC(".maps") = {
  .values = { [0] = (void *)&copy_chunks },
};

/* A call returned `total` bytes: it takes its place in its stream, and the
 * event header and the copy state are filled for copy_chunks. 0: nothing to
 * copy (the call's socket is not known). */
static __always_inline int copy_begin(struct active_call *a, __u64 id, __u64 total) {
  __u32 tgid = id >> 32;
  struct ssl_key sk = { .tgid = tgid, .ssl = a->ssl };
  int fd = a->fd;
  if (fd < 0) {
    int *known = bpf_map_lookup_elem(&ssl_fds, &sk);
    if (!known) {
      count(C_NO_FD, 1);
      return 0;
    }
    fd = *known;
  } else {
    bpf_map_update_elem(&ssl_fds, &sk, &fd, BPF_ANY);
  }
  __u32 zero_key = 0;
  struct tls_event *ev = bpf_map_lookup_elem(&scratch, &zero_key);
  struct copy_state *s = bpf_map_lookup_elem(&copy_new, &zero_key);
  if (!ev || !s) return 0;
  /* A write whose fd was closed while it was in its call: the stream the close left. */
  struct conn_pos *p = a->wfd == fd ? closed_stream_of(a, tgid) : NULL;
  __u8 closed = p != NULL;
  if (!p) p = conn_of(tgid, fd);
  if (!p) return 0;
  __u8 dir = a->dir & 1;
  __u64 start = p->pos[dir];
  p->pos[dir] = start + total;

  ev->kind = EV_DATA;
  ev->pid = tgid;
  ev->tid = (__u32)id;
  ev->fd = fd;
  ev->dir = dir;
  ev->source = a->source;
  ev->ts_ns = bpf_ktime_get_ns();
  ev->family = p->family;
  ev->lport = p->lport;
  ev->rport = p->rport;
  __builtin_memcpy(ev->laddr, p->laddr, 16);
  __builtin_memcpy(ev->raddr, p->raddr, 16);
  ev->other_pos = p->published[dir ^ 1];
  __u32 in_flight = 0;
  if (p->writing > 0 && ev->ts_ns - p->write_at < WRITE_STALE_NS) in_flight = EVF_WRITE_IN_FLIGHT;
  ev->flags = in_flight & dir;
  bpf_get_current_comm(ev->comm, sizeof(ev->comm));
  ev->cgroup_id = bpf_get_current_cgroup_id();

  s->buf = a->buf;
  s->start = start;
  s->total = total;
  s->off = 0;
  s->ino = p->ino;
  s->wino = a->wino;
  s->tgid = tgid;
  s->fd = fd;
  s->wfd = a->wfd;
  s->batch = 0;
  s->dir = dir;
  s->closed = closed;
  __builtin_memcpy(s->head, ev, TLS_EVENT_HEADER);
  if (bpf_map_update_elem(&copying, &id, s, BPF_ANY) != 0) {
    /* Not copied: counted, and the next event's offset shows the gap. */
    count(C_SKIPPED_BYTES, total);
    p->published[dir] = start + total;
    return 0;
  }
  return 1;
}

/* After the call's last chunk: what was not copied is counted, the stream's
 * `published` offset moves past the call, and its write is no longer in flight. */
static __always_inline void copy_end(struct copy_state *s, __u64 id) {
  if (s->off < s->total) count(C_SKIPPED_BYTES, s->total - s->off);
  struct conn_key ck = { .tgid = s->tgid, .fd = s->fd };
  struct conn_pos *p;
  if (s->closed) p = bpf_map_lookup_elem(&closing, &ck);
  else p = bpf_map_lookup_elem(&conns, &ck);
  /* Only after the output: an event that reads this value takes its place in
   * the ring after every chunk of this call (places are handed out under the
   * ring's lock, which these chunks' reservations have already taken and
   * released). Not for another socket the fd names by now. */
  if (p && p->ino == s->ino) p->published[s->dir & 1] = s->start + s->total;
  struct active_call a = { .wfd = s->wfd, .wino = s->wino };
  write_ends(&a, s->tgid);
  bpf_map_delete_elem(&copying, &id);
}

/* Up to MAX_CHUNKS chunks of the call in `copying`, then the next run by a
 * tail call (MAX_BATCHES runs at most), or the call's end. */
SEC("uprobe")
int copy_chunks(struct pt_regs *ctx) {
  __u32 zero_key = 0;
  __u64 id = bpf_get_current_pid_tgid();
  struct copy_state *s = bpf_map_lookup_elem(&copying, &id);
  struct tls_event *ev = bpf_map_lookup_elem(&scratch, &zero_key);
  if (!s || !ev) return 0; /* cannot happen: copy_begin made the state before the tail call */
  __u64 total = s->total, off = s->off, buf = s->buf, start = s->start;
  /* The last run allowed: its last chunk says how much of the call follows uncopied. */
  __u32 last = s->batch >= MAX_BATCHES - 1;
  for (int i = 0; i < MAX_CHUNKS; i++) {
    if (off >= total) break;
    __u64 left = total - off;
    /* In [1, CHUNK] in a form the verifier can follow. */
    __u32 n = ((__u32)(left > CHUNK ? CHUNK : left) - 1) & (CHUNK - 1);
    n += 1;
    __builtin_memcpy(ev, s->head, TLS_EVENT_HEADER);
    ev->pos = start + off;
    ev->len = n;
    ev->skipped = (last && i == MAX_CHUNKS - 1 && left > n) ? (__u32)(left - n) : 0;
    if (bpf_probe_read_user(ev->data, n, (const void *)(buf + off)) != 0) {
      count(C_READ_FAILED, 1);
      count(C_LOST_BYTES, n);
    } else if (bpf_ringbuf_output(&events, ev, TLS_EVENT_HEADER + n, 0) != 0) {
      count(C_LOST_EVENTS, 1);
      count(C_LOST_BYTES, n);
    } else {
      count(C_EVENTS, 1);
    }
    off += n;
  }
  s->off = off;
  if (off < total && !last) {
    s->batch++;
    bpf_tail_call(ctx, &copiers, 0);
    /* Not taken (the kernel's tail-call limit was lower than MAX_BATCHES):
     * the rest is counted as skipped, and the next event's offset shows it. */
  }
  copy_end(s, id);
  return 0;
}

/* A call returned: its bytes are copied by copy_chunks (a tail call: nothing
 * after it runs here) and its write ends there after them; or, with nothing
 * to copy, it ends now. */
static __always_inline void call_done(void *ctx, struct active_call *a, __u64 id, __u64 total) {
  if (total > 0 && copy_begin(a, id, total)) {
    bpf_tail_call(ctx, &copiers, 0);
    /* Not taken (the program array is empty): nothing copied, all counted as skipped. */
    struct copy_state *s = bpf_map_lookup_elem(&copying, &id);
    if (s) copy_end(s, id);
    return;
  }
  write_ends(a, id >> 32);
}

/* ---- memory BIOs ---------------------------------------------------------
 * node runs OpenSSL over memory BIOs (TLSWrap): no socket syscall happens
 * inside its SSL calls. Its socket I/O is next to them instead, on the same
 * thread, in the same synchronous C++ call:
 *   - it reads the socket, then calls SSL_read on what came (OnStreamRead →
 *     ClearOut): an SSL_read returning data takes the socket read just before;
 *   - an SSL call that returned nothing (the client's handshake kick-off in
 *     TLSWrap::Start, a server's handshake step) is followed by writing what
 *     it produced (ClientHello, ServerHello…: EncOut): the next socket write
 *     names the SSL*'s socket.
 * Either way the SSL* → fd is learnt during the handshake, so the calls that
 * carry data find it in ssl_fds like any other. Only processes that had an
 * SSL call with no socket (`membio`) are followed outside SSL calls, so the
 * rest of the system pays one map lookup per syscall. Each observation is
 * used at most once and only within NEIGHBOUR_NS: a read or write further
 * away may be another connection's. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32); /* tgid */
  __type(value, __u8);
} membio SEC(".maps");

#define NEIGHBOUR_NS 10000000ull

/* A thread's last socket read (fd), or an SSL* waiting for its thread's next socket write (ssl). */
struct io_note {
  __u64 ssl;
  int fd;
  __u64 at;
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64); /* pid_tgid */
  __type(value, struct io_note);
} last_read SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64); /* pid_tgid */
  __type(value, struct io_note);
} learn_on_write SEC(".maps");

static __always_inline void learn(__u32 tgid, __u64 ssl, int fd) {
  struct ssl_key sk = { .tgid = tgid, .ssl = ssl };
  bpf_map_update_elem(&ssl_fds, &sk, &fd, BPF_ANY);
  count(C_FD_INFERRED, 1);
}

/* True when the call's socket is unknown: neither seen inside the call nor learnt for its SSL*. */
static __always_inline int fd_unknown(struct active_call *a, __u32 tgid) {
  if (a->fd >= 0) return 0;
  struct ssl_key sk = { .tgid = tgid, .ssl = a->ssl };
  return bpf_map_lookup_elem(&ssl_fds, &sk) == NULL;
}

/* An OpenSSL call with no socket ends: tie it to the thread's neighbouring socket I/O. */
static __always_inline void membio_leave(struct active_call *a, __u64 id, __u64 total) {
  __u32 tgid = id >> 32;
  __u8 one = 1;
  bpf_map_update_elem(&membio, &tgid, &one, BPF_ANY);
  struct io_note *r = bpf_map_lookup_elem(&last_read, &id);
  int recent = r && bpf_ktime_get_ns() - r->at < NEIGHBOUR_NS;
  if (a->dir == DIR_READ && total > 0 && recent) {
    a->fd = r->fd;
    learn(tgid, a->ssl, r->fd);
  } else {
    struct io_note w = { .ssl = a->ssl, .fd = -1, .at = bpf_ktime_get_ns() };
    bpf_map_update_elem(&learn_on_write, &id, &w, BPF_ANY);
  }
  /* Used once: the next SSL call on this thread needs a read of its own. */
  if (r) bpf_map_delete_elem(&last_read, &id);
}

static __always_inline int leave(struct pt_regs *ctx, int ret) {
  __u64 id = bpf_get_current_pid_tgid();
  struct active_call *a = bpf_map_lookup_elem(&active, &id);
  if (!a) return 0;
  __u64 total = 0;
  if (a->ex) {
    if (ret == 1) {
      __u64 done = 0;
      if (bpf_probe_read_user(&done, sizeof(done), (const void *)a->len_ptr) == 0) total = done;
    }
  } else if (ret > 0) {
    total = (__u64)ret;
  }
  if (a->source == SRC_OPENSSL && fd_unknown(a, id >> 32)) membio_leave(a, id, total);
  /* Gone from the table before the copy: the tail call does not come back here. */
  struct active_call done = *a;
  bpf_map_delete_elem(&active, &id);
  call_done(ctx, &done, id, total);
  return 0;
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_enter, void *ssl, const void *buf, int num) {
  return enter((__u64)ssl, (__u64)buf, 0, DIR_WRITE, 0);
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_enter, void *ssl, void *buf, int num) {
  return enter((__u64)ssl, (__u64)buf, 0, DIR_READ, 0);
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_enter, void *ssl, const void *buf, __u64 num, __u64 *written) {
  return enter((__u64)ssl, (__u64)buf, (__u64)written, DIR_WRITE, 1);
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_enter, void *ssl, void *buf, __u64 num, __u64 *readbytes) {
  return enter((__u64)ssl, (__u64)buf, (__u64)readbytes, DIR_READ, 1);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_return, int ret) { /* SSL_read/SSL_write return an int: -1 is 0xffffffff in the register */
  return leave(ctx, ret);
}

SEC("uprobe")
int BPF_KPROBE(ssl_set_fd, void *ssl, int fd) {
  struct ssl_key sk = { .tgid = bpf_get_current_pid_tgid() >> 32, .ssl = (__u64)ssl };
  bpf_map_update_elem(&ssl_fds, &sk, &fd, BPF_ANY);
  return 0;
}

/* The socket syscall made inside an SSL call names its fd. Only a socket
 * counts: a library doing I/O on memory BIOs (node) may write to a pipe or
 * eventfd inside the call, and that fd must not be taken for the connection. */
static __always_inline int on_io_syscall(long fd, __u8 dir) {
  __u64 id = bpf_get_current_pid_tgid();
  struct active_call *a = bpf_map_lookup_elem(&active, &id);
  __u64 ino = 0;
  if (a) {
    if (a->fd < 0 && sock_of_fd((int)fd, &ino)) a->fd = (int)fd;
    return 0;
  }
  /* Outside any SSL call: only processes with memory-BIO calls are followed. */
  __u32 tgid = id >> 32;
  if (!bpf_map_lookup_elem(&membio, &tgid)) return 0;
  if (!sock_of_fd((int)fd, &ino)) return 0;
  if (dir == DIR_READ) {
    struct io_note r = { .ssl = 0, .fd = (int)fd, .at = bpf_ktime_get_ns() };
    bpf_map_update_elem(&last_read, &id, &r, BPF_ANY);
    return 0;
  }
  struct io_note *w = bpf_map_lookup_elem(&learn_on_write, &id);
  if (!w) return 0;
  if (bpf_ktime_get_ns() - w->at < NEIGHBOUR_NS) learn(tgid, w->ssl, (int)fd);
  bpf_map_delete_elem(&learn_on_write, &id);
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int sys_write(struct trace_event_raw_sys_enter *ctx) { return on_io_syscall(ctx->args[0], DIR_WRITE); }
SEC("tracepoint/syscalls/sys_enter_writev")
int sys_writev(struct trace_event_raw_sys_enter *ctx) { return on_io_syscall(ctx->args[0], DIR_WRITE); }
SEC("tracepoint/syscalls/sys_enter_read")
int sys_read(struct trace_event_raw_sys_enter *ctx) { return on_io_syscall(ctx->args[0], DIR_READ); }
SEC("tracepoint/syscalls/sys_enter_readv")
int sys_readv(struct trace_event_raw_sys_enter *ctx) { return on_io_syscall(ctx->args[0], DIR_READ); }
SEC("tracepoint/syscalls/sys_enter_sendto")
int sys_sendto(struct trace_event_raw_sys_enter *ctx) { return on_io_syscall(ctx->args[0], DIR_WRITE); }
SEC("tracepoint/syscalls/sys_enter_recvfrom")
int sys_recvfrom(struct trace_event_raw_sys_enter *ctx) { return on_io_syscall(ctx->args[0], DIR_READ); }
SEC("tracepoint/syscalls/sys_enter_sendmsg")
int sys_sendmsg(struct trace_event_raw_sys_enter *ctx) { return on_io_syscall(ctx->args[0], DIR_WRITE); }
SEC("tracepoint/syscalls/sys_enter_recvmsg")
int sys_recvmsg(struct trace_event_raw_sys_enter *ctx) { return on_io_syscall(ctx->args[0], DIR_READ); }

/* A closed fd ends its streams (the fd number may be reused for another connection). */
SEC("tracepoint/syscalls/sys_enter_close")
int sys_close(struct trace_event_raw_sys_enter *ctx) {
  struct conn_key ck = { .tgid = bpf_get_current_pid_tgid() >> 32, .fd = (int)ctx->args[0] };
  struct conn_pos *p = bpf_map_lookup_elem(&conns, &ck);
  if (!p) return 0;
  __u32 zero_key = 0;
  struct tls_event *ev = bpf_map_lookup_elem(&scratch, &zero_key);
  if (!ev) {
    bpf_map_delete_elem(&conns, &ck);
    return 0;
  }
  ev->family = p->family;
  ev->lport = p->lport;
  ev->rport = p->rport;
  __builtin_memcpy(ev->laddr, p->laddr, 16);
  __builtin_memcpy(ev->raddr, p->raddr, 16);
  /* The stream's final offsets: bytes lost at its end still show as a gap. */
  ev->pos = p->pos[0];
  ev->skipped = (__u32)p->pos[1];
  ev->other_pos = p->pos[1];
  /* A write still in its call (another thread's): its bytes come after this close (see `closing`). */
  __u32 flags = 0;
  if (p->writing > 0 && bpf_ktime_get_ns() - p->write_at < WRITE_STALE_NS) {
    bpf_map_update_elem(&closing, &ck, p, BPF_ANY);
    flags = EVF_WRITE_IN_FLIGHT;
  }
  bpf_map_delete_elem(&conns, &ck);
  ev->kind = EV_CLOSE;
  ev->pid = ck.tgid;
  ev->tid = (__u32)bpf_get_current_pid_tgid();
  ev->fd = ck.fd;
  ev->ts_ns = bpf_ktime_get_ns();
  ev->len = 0;
  ev->dir = 0;
  ev->source = 0;
  ev->flags = flags;
  bpf_get_current_comm(ev->comm, sizeof(ev->comm));
  ev->cgroup_id = bpf_get_current_cgroup_id();
  if (bpf_ringbuf_output(&events, ev, TLS_EVENT_HEADER, 0) != 0) count(C_LOST_EVENTS, 1);
  return 0;
}

/* ---- Go crypto/tls: (*Conn).Write / (*Conn).Read -------------------------
 * Go >= 1.17 passes arguments in registers (amd64: AX = the *Conn, BX/CX =
 * the slice's pointer and length; results in AX = n). A goroutine may move
 * to another thread while it blocks, so calls are keyed by the goroutine (its
 * g, in R14 under the register ABI), not the thread, and return probes sit on
 * the function's RET instructions (found by disassembly, loader.c): a
 * uretprobe rewrites the return address on a stack Go may move. The fd comes
 * from the Conn itself: tls.Conn.conn (an interface, data word at +8) →
 * *net.TCPConn → *netFD (at +0) → poll.FD.Sysfd (at +16), layouts unchanged
 * since Go 1.9. */
#if defined(__TARGET_ARCH_x86)
struct go_key {
  __u32 tgid;
  __u32 pad;
  __u64 g;
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, struct go_key);
  __type(value, struct active_call);
} go_active SEC(".maps");

static __always_inline int go_fd(__u64 conn) {
  __u64 data = 0, netfd = 0;
  long long sysfd = -1;
  if (bpf_probe_read_user(&data, sizeof(data), (const void *)(conn + 8)) || !data) return -1;
  if (bpf_probe_read_user(&netfd, sizeof(netfd), (const void *)data) || !netfd) return -1;
  if (bpf_probe_read_user(&sysfd, sizeof(sysfd), (const void *)(netfd + 16))) return -1;
  return sysfd >= 0 && sysfd < (1 << 30) ? (int)sysfd : -1;
}

static __always_inline int go_enter(struct pt_regs *ctx, __u8 dir) {
  struct go_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .g = ctx->r14 };
  __u64 conn = ctx->ax;
  struct active_call a = { .ssl = conn, .buf = ctx->bx, .fd = go_fd(conn), .wfd = -1, .dir = dir, .source = SRC_GO };
  /* A stack-growth restart runs the entry again: the later one wins, with the same values
   * (and a write it counted in flight is not counted twice). */
  struct active_call *before = bpf_map_lookup_elem(&go_active, &k);
  if (before) write_ends(before, k.tgid);
  if (dir == DIR_WRITE && a.fd >= 0) write_begins(&a, k.tgid, a.fd);
  bpf_map_update_elem(&go_active, &k, &a, BPF_ANY);
  return 0;
}

SEC("uprobe")
int go_write_enter(struct pt_regs *ctx) { return go_enter(ctx, DIR_WRITE); }

SEC("uprobe")
int go_read_enter(struct pt_regs *ctx) { return go_enter(ctx, DIR_READ); }

SEC("uprobe")
int go_return(struct pt_regs *ctx) {
  struct go_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .g = ctx->r14 };
  struct active_call *a = bpf_map_lookup_elem(&go_active, &k);
  if (!a) return 0;
  long n = (long)ctx->ax;
  struct active_call done = *a;
  bpf_map_delete_elem(&go_active, &k);
  if (n > 0 && done.fd < 0) {
    count(C_NO_FD, 1);
    n = 0;
  }
  call_done(ctx, &done, bpf_get_current_pid_tgid(), n > 0 ? (__u64)n : 0);
  return 0;
}
#endif
