/* Shared between the BPF program and its loader: what one ring-buffer record holds.
 * The loader copies these into its framed stdout stream (see loader.c and
 * src/tls-capture/frames.ts, which reads them). */
#ifndef TLS_CAPTURE_H
#define TLS_CAPTURE_H

/* Bytes of one TLS call carried per event; a larger buffer is sent as several
 * events (consecutive stream offsets), never cut silently. Power of two: the
 * verifier accepts `len & (CHUNK - 1)` as a bound. */
#define CHUNK 16384
/* Chunks one run of the copying program outputs (CHUNK * MAX_CHUNKS = 512 KiB).
 * A larger call is copied by that program tail-calling itself, MAX_BATCHES
 * runs at most: at most CHUNK * MAX_CHUNKS * MAX_BATCHES = 16 MiB of a single
 * SSL_write/SSL_read/Go Write are copied; the rest is reported as skipped.
 * Each run is verified on its own, so the verifier's work does not grow with
 * the size copied. 32 tail calls is what every kernel allows (MAX_TAIL_CALL_CNT:
 * 32 before 5.17, where some JITs stopped at 32, 33 since). */
#define MAX_CHUNKS 32
#define MAX_BATCHES 32

enum tls_dir { DIR_WRITE = 0, DIR_READ = 1 };
enum tls_event_kind { EV_DATA = 1, EV_CLOSE = 2 };
/* The library a call came through. */
enum tls_source { SRC_OPENSSL = 0, SRC_GO = 1 };
/* tls_event.flags */
enum tls_event_flag {
  /* A read that returned while a write on the same (process, fd) was still in
   * its call: that write's bytes went out before this read's came in (the
   * reply may answer them), but its event reaches the ring only when its call
   * returns. User space puts this read after that write (write-order.ts).
   * On a close: a write on the fd was still in its call (another thread's);
   * its bytes come after the close, and user space puts the close after them. */
  EVF_WRITE_IN_FLIGHT = 1,
};

/* Indexes into the per-CPU `counters` array. */
enum tls_counter {
  C_EVENTS = 0,         /* data events written to the ring */
  C_LOST_EVENTS = 1,    /* ring full: event not written (its bytes show as a gap) */
  C_LOST_BYTES = 2,
  C_SKIPPED_BYTES = 3,  /* bytes beyond CHUNK * MAX_CHUNKS * MAX_BATCHES of one call */
  C_NO_FD = 4,          /* calls whose socket was not known (no syscall seen, no SSL_set_fd) */
  C_READ_FAILED = 5,    /* bpf_probe_read_user failed (page not present) */
  C_ACTIVE_FULL = 6,    /* the in-flight call table was full */
  C_FD_INFERRED = 7,    /* memory-BIO calls (node) whose socket was the thread's neighbouring socket I/O */
  C_MAX = 8,
};

struct tls_event {
  unsigned int kind;      /* tls_event_kind */
  unsigned int pid;       /* tgid */
  unsigned int tid;
  int fd;
  unsigned long long ts_ns;   /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
  unsigned long long pos;     /* byte offset of this chunk in the (pid, fd, dir) stream */
  unsigned int len;       /* data bytes that follow */
  unsigned int skipped;   /* bytes of this call after this chunk that were not copied */
  unsigned char dir;      /* tls_dir */
  unsigned char source;   /* tls_source */
  unsigned short family;  /* AF_INET / AF_INET6 of the fd's socket; 0: not an inet socket */
  unsigned short lport;   /* local and remote port (host order) */
  unsigned short rport;
  char comm[16];
  unsigned char laddr[16]; /* local and remote address: 4 bytes (AF_INET) or 16 */
  unsigned char raddr[16];
  unsigned long long other_pos; /* the other direction's offset when this call returned (its bytes lost before now show as a gap at once) */
  unsigned long long cgroup_id; /* the caller's cgroup v2 id (bpf_get_current_cgroup_id): names its container even after a
                                 * short-lived client exited, when /proc/PID/cgroup can no longer be read */
  unsigned int flags;     /* tls_event_flag */
  unsigned int pad;
  unsigned char data[CHUNK];
};

#define TLS_EVENT_HEADER (sizeof(struct tls_event) - CHUNK)

#endif
