/*
 * shark-capture: shark's capture helper, in the spirit of Wireshark's dumpcap.
 *
 * Capture runs here, in its own process, so that a busy dissector in Node
 * never stops libpcap's kernel ring from being drained. Three threads:
 *
 *   capture  polls every interface, and per packet ONLY classifies its flow
 *            and copies it (kernel timestamp, caplen, len, interface) into a
 *            memory ring; when the ring is full, into an on-disk spool. It
 *            never waits for the consumer.
 *   writer   drains the ring (then the spool) to stdout in the framed format
 *            below. Blocking writes to the pipe are Node's backpressure.
 *   control  reads commands on stdin: "filter EXPR", "filter-file PATH" and
 *            "stop" (EOF = stop).
 *
 * The main thread prints a stats line on stderr every --stats-ms, and a
 * final one after the last packet went out. Exit status: 0 after a stop,
 * 1 when an interface failed (went down …), 2 when it could not start.
 *
 * Under pressure (ring + spool use above --high percent) packets opening NEW
 * flows are shed, whole flows (a shed flow stays shed until it is idle), so
 * the dissector never sees half a call; flows already followed keep flowing
 * and are dropped only when ring and spool are truly full. Below --low
 * percent new flows are accepted again. Everything is counted.
 *
 * stdout: "SHKCAP01" then records, each
 *   u32 caplen, u32 len, u32 ts_sec, u32 ts_nsec, u32 interface  (host order)
 *   caplen bytes of packet, zero-padded to a multiple of 4.
 * stderr: lines "shark-capture stats {json}", "shark-capture filter ok",
 *   "shark-capture filter error: MSG", "shark-capture error: MSG".
 *
 * Every buffer is bounded: the ring and spool by their sizes, packets by the
 * snaplen (at most 262144), control lines by MAX_LINE, the flow table by
 * --flows, the per-port shed table by SHED_PORTS (the rest: "other").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_IFACES 16
#define MAX_SNAPLEN 262144
#define HDR 20u
#define WRAP 0xFFFFFFFFu          /* caplen of a ring record meaning "continue at offset 0" */
#define MAX_LINE (1u << 20)       /* longest control line (per-pod filters list many interfaces) */
#define CHUNK (1u << 20)          /* most bytes per write; > the largest record */
#define SHED_PORTS 64
#define FLOW_WAYS 8               /* flow table: buckets of 8 slots */
#define FLOW_IDLE_SEC 60          /* a flow idle this long may be forgotten */
#define STREAM_MAGIC "SHKCAP01"

static const char *opt_ready_file;
static int ready_written;
static void ready_file(const char *json);
static void json_escape(char *out, size_t outlen, const char *s);

/* One line on stderr; before the ready file was written, the reason goes there too (shark waits on it). */
static void die(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "shark-capture error: %s\n", msg);
  if (opt_ready_file && !ready_written) {
    char esc[1024], json[1200];
    json_escape(esc, sizeof esc, msg);
    snprintf(json, sizeof json, "{\"error\":\"other\",\"interface\":\"\",\"message\":\"%s\"}\n", esc);
    ready_file(json);
  }
  exit(2);
}

static uint64_t parse_size(const char *s, const char *what) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s) die("%s: not a size: %s", what, s);
  switch (*end) {
    case 'k': case 'K': v <<= 10; end++; break;
    case 'm': case 'M': v <<= 20; end++; break;
    case 'g': case 'G': v <<= 30; end++; break;
    default: break;
  }
  if (*end == 'B' || *end == 'b') end++;
  if (*end) die("%s: not a size: %s", what, s);
  return v;
}

/* ---------- options ---------- */

static const char *ifnames[MAX_IFACES];
static int nifaces;
static const char *opt_filter = "";
static int opt_snaplen = 65535;
static uint64_t opt_bufsize = 32u << 20;
static uint64_t opt_ring = 64u << 20;
static uint64_t opt_spool;
static const char *opt_spool_dir;
static unsigned opt_high = 80, opt_low = 50;
static uint32_t opt_flows = 65536;
static unsigned opt_stats_ms = 1000;
static const char *opt_ack_dir;
static int opt_immediate;

/* ---------- shared state (guarded by mu unless atomic) ---------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t have_data = PTHREAD_COND_INITIALIZER;

static uint8_t *ring;
static uint64_t ring_size, ring_head, ring_tail; /* head/tail grow forever; offset = x % size */
static int spool_fd = -1;
static uint64_t spool_size, spool_w, spool_r;

static uint64_t received, delivered, dropped, shed_packets, shed_flows, flow_table_full;
static uint64_t kernel_drop, if_drop; /* summed pcap_stats, refreshed by the capture thread */
static int shedding;
static int capture_done, writer_done, output_gone;

static atomic_int stop_requested;
static atomic_int capture_failed;

struct shed_port { uint8_t proto; uint16_t port; uint64_t flows; };
static struct shed_port shed_ports[SHED_PORTS];
static int nshed_ports;
static uint64_t shed_other_flows;

/*
 * A filter expression handed from the control thread to the capture thread,
 * which compiles it on the live handles: on Linux `ifindex N` (per-pod
 * capture on `any`) compiles to the kernel's SKF_AD_IFINDEX only for a live
 * capture, so a pcap_open_dead() compile would not be the same program.
 */
static char *pending_expr;
static int filter_pending;
static unsigned pending_seq;

/*
 * With --ack-dir, the outcome of the Nth "filter" line is written to
 * DIR/filter-N once it applies ("ok") or fails ("error: …"), so shark's
 * setFilter can return only when the new filter is in force, as before.
 */
static void filter_ack(unsigned seq, const char *err) {
  if (!opt_ack_dir) return;
  char path[4096], tmp[4200];
  snprintf(path, sizeof path, "%s/filter-%u", opt_ack_dir, seq);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return;
  if (err) fprintf(f, "error: %s\n", err);
  else fputs("ok\n", f);
  fclose(f);
  rename(tmp, path);
}

struct iface { pcap_t *p; int dlt; int fd; uint32_t ts_scale; /* 1 for ns, 1000 for µs */ };
static struct iface ifaces[MAX_IFACES];

/* ---------- flows ---------- */

struct flow_key {
  uint8_t addr[2][16]; /* lower endpoint first, so both directions match */
  uint16_t port[2];
  uint8_t proto, family, pad[2];
};
enum { FLOW_FREE = 0, FLOW_FOLLOWED, FLOW_SHED };
struct flow { struct flow_key key; uint32_t last_sec; uint8_t state; };
static struct flow *flows;
static uint32_t flow_buckets; /* a power of two */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/*
 * The flow of a packet, and the port it was most likely addressed to (a
 * SYN's destination, else the lower port). Returns 0 for packets that are no
 * TCP/UDP/SCTP/ICMP flow (ARP, truncated headers …). Every read is checked
 * against caplen: a hostile packet can only fail to parse.
 */
static int flow_of(int dlt, const uint8_t *d, uint32_t n, struct flow_key *k, uint16_t *service) {
  uint32_t off;
  uint16_t eth;
  switch (dlt) {
    case DLT_EN10MB:
      if (n < 14) return 0;
      eth = rd16(d + 12);
      off = 14;
      for (int tags = 0; tags < 2 && (eth == 0x8100 || eth == 0x88a8); tags++) {
        if (n < off + 4) return 0;
        eth = rd16(d + off + 2);
        off += 4;
      }
      break;
    case DLT_LINUX_SLL:
      if (n < 16) return 0;
      eth = rd16(d + 14);
      off = 16;
      break;
#ifdef DLT_LINUX_SLL2
    case DLT_LINUX_SLL2:
      if (n < 20) return 0;
      eth = rd16(d);
      off = 20;
      break;
#endif
    case DLT_NULL:
    case DLT_LOOP:
      if (n < 5) return 0;
      off = 4;
      eth = (d[4] >> 4) == 6 ? 0x86dd : 0x0800;
      break;
    case DLT_RAW:
    case 14: /* DLT_RAW is 12 or 14 depending on the platform */
    case 101:
      if (n < 1) return 0;
      off = 0;
      eth = (d[0] >> 4) == 6 ? 0x86dd : 0x0800;
      break;
    default:
      return 0;
  }
  memset(k, 0, sizeof *k);
  uint8_t proto;
  const uint8_t *src, *dst;
  int alen;
  uint32_t l4;
  int later_fragment = 0;
  if (eth == 0x0800) {
    if (n < off + 20 || (d[off] >> 4) != 4) return 0;
    uint32_t ihl = (uint32_t)(d[off] & 15) * 4;
    if (ihl < 20 || n < off + ihl) return 0;
    proto = d[off + 9];
    later_fragment = (rd16(d + off + 6) & 0x1fff) != 0;
    src = d + off + 12;
    dst = d + off + 16;
    alen = 4;
    k->family = 4;
    l4 = off + ihl;
  } else if (eth == 0x86dd) {
    if (n < off + 40 || (d[off] >> 4) != 6) return 0;
    proto = d[off + 6];
    src = d + off + 8;
    dst = d + off + 24;
    alen = 16;
    k->family = 6;
    l4 = off + 40;
    /* Skip a bounded number of extension headers to find the transport. */
    for (int i = 0; i < 8 && (proto == 0 || proto == 43 || proto == 60 || proto == 44); i++) {
      if (n < l4 + 8) return 0;
      if (proto == 44) {
        later_fragment = (rd16(d + l4 + 2) & 0xfff8) != 0;
        proto = d[l4];
        l4 += 8;
      } else {
        uint8_t next = d[l4];
        l4 += ((uint32_t)d[l4 + 1] + 1) * 8;
        proto = next;
      }
    }
  } else {
    return 0;
  }
  uint16_t sport = 0, dport = 0;
  int syn = 0;
  if (!later_fragment && (proto == 6 || proto == 17 || proto == 132) && n >= l4 + 4) {
    sport = rd16(d + l4);
    dport = rd16(d + l4 + 2);
    if (proto == 6 && n >= l4 + 14) syn = (d[l4 + 13] & 0x12) == 0x02; /* SYN without ACK */
  }
  k->proto = proto;
  int src_first = memcmp(src, dst, (size_t)alen) < 0 || (memcmp(src, dst, (size_t)alen) == 0 && sport <= dport);
  memcpy(k->addr[src_first ? 0 : 1], src, (size_t)alen);
  memcpy(k->addr[src_first ? 1 : 0], dst, (size_t)alen);
  k->port[src_first ? 0 : 1] = sport;
  k->port[src_first ? 1 : 0] = dport;
  *service = syn ? dport : (sport < dport ? sport : dport);
  return 1;
}

static uint32_t flow_hash(const struct flow_key *k) {
  const uint8_t *p = (const uint8_t *)k;
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < sizeof *k; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

/*
 * The flow's slot, inserting it (as `state`) when new and a slot in its
 * bucket is free or idle. *is_new tells whether it was inserted or unknown.
 * NULL: the bucket is full of live flows (counted by the caller).
 */
static struct flow *flow_find(const struct flow_key *k, uint32_t now, int state, int *is_new) {
  struct flow *b = &flows[(flow_hash(k) & (flow_buckets - 1)) * FLOW_WAYS];
  struct flow *spare = NULL;
  for (int i = 0; i < FLOW_WAYS; i++) {
    if (b[i].state != FLOW_FREE && memcmp(&b[i].key, k, sizeof *k) == 0) {
      b[i].last_sec = now;
      *is_new = 0;
      return &b[i];
    }
    if (!spare && (b[i].state == FLOW_FREE || now - b[i].last_sec > FLOW_IDLE_SEC)) spare = &b[i];
  }
  *is_new = 1;
  if (!spare) return NULL;
  spare->key = *k;
  spare->last_sec = now;
  spare->state = (uint8_t)state;
  return spare;
}

static void count_shed_flow(uint8_t proto, uint16_t port) {
  for (int i = 0; i < nshed_ports; i++) {
    if (shed_ports[i].proto == proto && shed_ports[i].port == port) {
      shed_ports[i].flows++;
      return;
    }
  }
  if (nshed_ports < SHED_PORTS) {
    shed_ports[nshed_ports++] = (struct shed_port){ proto, port, 1 };
    return;
  }
  shed_other_flows++;
}

/* ---------- ring and spool (called with mu held) ---------- */

static uint64_t queued_bytes(void) { return (ring_head - ring_tail) + (spool_w - spool_r); }

static void spool_pwrite(const void *buf, uint32_t len, uint64_t at) {
  /* A circular file: a record may wrap around its end. */
  uint64_t off = at % spool_size;
  uint32_t first = (uint32_t)(spool_size - off < len ? spool_size - off : len);
  if (pwrite(spool_fd, buf, first, (off_t)off) != (ssize_t)first ||
      (len > first && pwrite(spool_fd, (const uint8_t *)buf + first, len - first, 0) != (ssize_t)(len - first)))
    die("spool: write failed: %s", strerror(errno));
}

static void spool_pread(void *buf, uint32_t len, uint64_t at) {
  uint64_t off = at % spool_size;
  uint32_t first = (uint32_t)(spool_size - off < len ? spool_size - off : len);
  if (pread(spool_fd, buf, first, (off_t)off) != (ssize_t)first ||
      (len > first && pread(spool_fd, (uint8_t *)buf + first, len - first, 0) != (ssize_t)(len - first)))
    die("spool: read failed: %s", strerror(errno));
}

/* Queue one record; 0 when neither ring nor spool has room. */
static int enqueue(const uint32_t hdr[5], const uint8_t *data) {
  uint32_t caplen = hdr[0];
  uint32_t size = HDR + ((caplen + 3) & ~3u);
  static const uint8_t zeros[4];
  /* Once the spool holds packets, newer ones follow them there: order is kept. */
  if (spool_w == spool_r) {
    uint64_t off = ring_head % ring_size;
    uint64_t waste = ring_size - off < size ? ring_size - off : 0;
    if (ring_size - (ring_head - ring_tail) >= waste + size) {
      if (waste >= HDR) {
        uint32_t wrap[5] = { WRAP, 0, 0, 0, 0 };
        memcpy(ring + off, wrap, HDR);
      }
      ring_head += waste;
      off = ring_head % ring_size;
      memcpy(ring + off, hdr, HDR);
      memcpy(ring + off + HDR, data, caplen);
      memset(ring + off + HDR + caplen, 0, size - HDR - caplen);
      ring_head += size;
      return 1;
    }
  }
  if (spool_fd >= 0 && spool_size - (spool_w - spool_r) >= size) {
    /* Disk I/O in the capture thread: normally page cache, as dumpcap's own writes. */
    spool_pwrite(hdr, HDR, spool_w);
    spool_pwrite(data, caplen, spool_w + HDR);
    if (size > HDR + caplen) spool_pwrite(zeros, size - HDR - caplen, spool_w + HDR + caplen);
    spool_w += size;
    return 1;
  }
  return 0;
}

/* ---------- capture thread ---------- */

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes) {
  uint32_t ifi = (uint32_t)(uintptr_t)user;
  uint32_t caplen = h->caplen > (uint32_t)opt_snaplen ? (uint32_t)opt_snaplen : h->caplen;
  /* With nanosecond precision set, libpcap puts nanoseconds in tv_usec. */
  uint32_t hdr[5] = { caplen, h->len, (uint32_t)h->ts.tv_sec, (uint32_t)h->ts.tv_usec * ifaces[ifi].ts_scale, ifi };
  struct flow_key key;
  uint16_t service = 0;
  int is_flow = flow_of(ifaces[ifi].dlt, bytes, caplen, &key, &service);
  pthread_mutex_lock(&mu);
  received++;
  uint64_t cap = ring_size + (spool_fd >= 0 ? spool_size : 0);
  uint64_t used = queued_bytes();
  if (!shedding && used * 100 > cap * opt_high) shedding = 1;
  else if (shedding && used * 100 < cap * opt_low) shedding = 0;
  int shed = 0;
  if (is_flow) {
    int is_new;
    struct flow *f = flow_find(&key, (uint32_t)h->ts.tv_sec, shedding ? FLOW_SHED : FLOW_FOLLOWED, &is_new);
    if (!f) {
      /* Bucket full of live flows: not followed, so shed like a new flow under pressure. */
      flow_table_full++;
      shed = shedding;
    } else if (is_new && f->state == FLOW_SHED) {
      shed = 1;
      shed_flows++;
      count_shed_flow(key.proto, service);
    } else if (f->state == FLOW_SHED) {
      shed = 1;
    }
  } else if (shedding) {
    shed = 1; /* ARP and the like: no flow to keep whole */
  }
  if (shed) shed_packets++;
  else if (enqueue(hdr, bytes)) pthread_cond_signal(&have_data);
  else dropped++;
  pthread_mutex_unlock(&mu);
}

static void refresh_pcap_stats(void) {
  uint64_t kd = 0, id = 0;
  for (int i = 0; i < nifaces; i++) {
    struct pcap_stat st;
    if (pcap_stats(ifaces[i].p, &st) == 0) {
      kd += st.ps_drop;
      id += st.ps_ifdrop;
    }
  }
  pthread_mutex_lock(&mu);
  kernel_drop = kd;
  if_drop = id;
  pthread_mutex_unlock(&mu);
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *capture_main(void *arg) {
  (void)arg;
  struct pollfd pfd[MAX_IFACES];
  for (int i = 0; i < nifaces; i++) pfd[i] = (struct pollfd){ .fd = ifaces[i].fd, .events = POLLIN };
  uint64_t last_stats = 0, stop_at = 0;
  for (;;) {
    if (atomic_load(&stop_requested) && !stop_at) stop_at = now_ms() + 100; /* drain blocks retired late */
    if (stop_at && now_ms() >= stop_at) break;
    int r = poll(pfd, (nfds_t)nifaces, 20);
    if (r < 0 && errno != EINTR) die("poll: %s", strerror(errno));
    for (int i = 0; i < nifaces; i++) {
      /* Nonblocking: returns at once when nothing is there (also when poll timed out). */
      if (pcap_dispatch(ifaces[i].p, -1, on_packet, (u_char *)(uintptr_t)i) == PCAP_ERROR) {
        fprintf(stderr, "shark-capture error: %s: %s\n", ifnames[i], pcap_geterr(ifaces[i].p));
        capture_failed = 1; /* what was queued still goes out; the exit status says it ended early */
        atomic_store(&stop_requested, 1);
      }
    }
    pthread_mutex_lock(&mu);
    int apply = filter_pending;
    unsigned seq = pending_seq;
    char *expr = pending_expr; /* ours now */
    pending_expr = NULL;
    filter_pending = 0;
    pthread_mutex_unlock(&mu);
    if (apply) {
      /* Compiled and applied here, between dispatches: a pcap_t is not shared between threads. */
      struct bpf_program progs[MAX_IFACES];
      char err[PCAP_ERRBUF_SIZE + 64] = "";
      int compiled = 0;
      for (; compiled < nifaces; compiled++) {
        if (pcap_compile(ifaces[compiled].p, &progs[compiled], expr, 1, PCAP_NETMASK_UNKNOWN) != 0) {
          snprintf(err, sizeof err, "%s", pcap_geterr(ifaces[compiled].p));
          break;
        }
      }
      /* All or nothing: a filter one interface refuses keeps the old one everywhere. */
      for (int i = 0; i < nifaces && !err[0]; i++)
        if (pcap_setfilter(ifaces[i].p, &progs[i]) != 0) snprintf(err, sizeof err, "%s", pcap_geterr(ifaces[i].p));
      for (int i = 0; i < compiled; i++) pcap_freecode(&progs[i]);
      if (err[0]) fprintf(stderr, "shark-capture filter error: %s\n", err);
      else fputs("shark-capture filter ok\n", stderr);
      filter_ack(seq, err[0] ? err : NULL);
      free(expr);
    }
    uint64_t t = now_ms();
    if (t - last_stats >= 200) {
      refresh_pcap_stats();
      last_stats = t;
    }
  }
  refresh_pcap_stats();
  pthread_mutex_lock(&mu);
  capture_done = 1;
  pthread_cond_signal(&have_data);
  pthread_mutex_unlock(&mu);
  return NULL;
}

/* ---------- writer thread ---------- */

static int write_all(const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(1, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        /* A non-blocking stdout (inherited so): wait as a blocking write would. */
        struct pollfd out = { .fd = 1, .events = POLLOUT };
        poll(&out, 1, -1);
        continue;
      }
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void *writer_main(void *arg) {
  (void)arg;
  uint8_t *buf = malloc(CHUNK);
  if (!buf) die("out of memory");
  if (write_all((const uint8_t *)STREAM_MAGIC, 8) != 0) goto gone;
  pthread_mutex_lock(&mu);
  for (;;) {
    while (ring_head == ring_tail && spool_w == spool_r && !capture_done) pthread_cond_wait(&have_data, &mu);
    if (ring_head == ring_tail && spool_w == spool_r) break;
    if (ring_head != ring_tail) {
      uint64_t off = ring_tail % ring_size;
      if (ring_size - off < HDR || *(uint32_t *)(ring + off) == WRAP) {
        ring_tail += ring_size - off;
        continue;
      }
      /* A contiguous run of whole records, written without holding the lock. */
      uint64_t len = 0, count = 0, avail = ring_head - ring_tail;
      while (len < avail && len < CHUNK && off + len + HDR <= ring_size) {
        uint32_t c = *(uint32_t *)(ring + off + len);
        if (c == WRAP) break;
        len += HDR + ((c + 3) & ~3u);
        count++;
      }
      pthread_mutex_unlock(&mu);
      if (write_all(ring + off, (size_t)len) != 0) goto gone;
      pthread_mutex_lock(&mu);
      ring_tail += len;
      delivered += count;
    } else {
      uint64_t avail = spool_w - spool_r;
      uint32_t want = avail < CHUNK ? (uint32_t)avail : CHUNK;
      uint64_t at = spool_r;
      pthread_mutex_unlock(&mu);
      spool_pread(buf, want, at);
      /* Whole records only, so spool_r stays on a record boundary (stats read its head). */
      uint32_t len = 0;
      uint64_t count = 0;
      while (len + HDR <= want) {
        uint32_t size = HDR + ((*(uint32_t *)(buf + len) + 3) & ~3u);
        if (len + size > want) break;
        len += size;
        count++;
      }
      if (write_all(buf, len) != 0) goto gone;
      pthread_mutex_lock(&mu);
      spool_r += len;
      delivered += count;
    }
  }
  writer_done = 1;
  pthread_mutex_unlock(&mu);
  free(buf);
  return NULL;
gone:
  /* The reader went away (EPIPE): nothing more can be delivered. */
  pthread_mutex_lock(&mu);
  output_gone = 1;
  writer_done = 1;
  pthread_mutex_unlock(&mu);
  atomic_store(&stop_requested, 1);
  free(buf);
  return NULL;
}

/* ---------- control thread ---------- */

static char file_expr[MAX_LINE + 1];

static void handle_line(char *line) {
  static unsigned seq;
  if (strncmp(line, "filter-file ", 12) == 0) {
    /* The filter in a file: any length up to MAX_LINE, no quoting (shark writes these). */
    FILE *f = fopen(line + 12, "r");
    size_t n = f ? fread(file_expr, 1, MAX_LINE, f) : 0;
    int too_long = f && n == MAX_LINE && fgetc(f) != EOF;
    if (f) fclose(f);
    if (!f || too_long) {
      seq++;
      fprintf(stderr, "shark-capture filter error: %s: %s\n", line + 12, f ? "longer than 1 MiB" : strerror(errno));
      filter_ack(seq, f ? "filter longer than 1 MiB" : "cannot read the filter file");
      return;
    }
    file_expr[n] = 0;
    memcpy(line, "filter ", 7);
    memmove(line + 7, file_expr, n + 1); /* line has MAX_LINE + 1 bytes */
  }
  if (strcmp(line, "stop") == 0) {
    atomic_store(&stop_requested, 1);
  } else if (strncmp(line, "filter ", 7) == 0 || strcmp(line, "filter") == 0) {
    const char *expr = line[6] ? line + 7 : "";
    char *copy = strdup(expr);
    seq++;
    if (!copy) {
      filter_ack(seq, "out of memory");
      return;
    }
    pthread_mutex_lock(&mu);
    if (filter_pending) {
      free(pending_expr);
      filter_ack(pending_seq, "replaced by a newer filter before it applied");
    }
    pending_expr = copy;
    pending_seq = seq;
    filter_pending = 1;
    pthread_mutex_unlock(&mu);
  } else {
    fprintf(stderr, "shark-capture error: unknown control line (want \"filter EXPR\", \"filter-file PATH\" or \"stop\")\n");
  }
}

static void *control_main(void *arg) {
  (void)arg;
  char *line = malloc(MAX_LINE + 1);
  if (!line) die("out of memory");
  size_t len = 0;
  int skipping = 0; /* inside a line longer than MAX_LINE: refused whole */
  char chunk[4096];
  for (;;) {
    ssize_t n = read(0, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; i++) {
      if (chunk[i] == '\n') {
        if (skipping) fprintf(stderr, "shark-capture error: control line longer than %u bytes ignored\n", MAX_LINE);
        else {
          line[len] = 0;
          handle_line(line);
        }
        len = 0;
        skipping = 0;
      } else if (!skipping) {
        if (len == MAX_LINE) skipping = 1;
        else line[len++] = chunk[i];
      }
    }
  }
  free(line);
  atomic_store(&stop_requested, 1); /* stdin's end: shark is gone or done */
  return NULL;
}

/* ---------- stats ---------- */

static void print_stats(int final) {
  char ports[SHED_PORTS * 48 + 64];
  size_t pl = 0;
  pthread_mutex_lock(&mu);
  /* Lag: age of the oldest packet still queued (the record at the ring's tail, else the spool's). */
  uint32_t oldest[5] = { 0 };
  int have_oldest = 0;
  if (ring_head != ring_tail) {
    uint64_t off = ring_tail % ring_size;
    if (ring_size - off < HDR || *(uint32_t *)(ring + off) == WRAP) off = 0;
    memcpy(oldest, ring + off, HDR);
    have_oldest = 1;
  } else if (spool_w != spool_r) {
    spool_pread(oldest, HDR, spool_r);
    have_oldest = 1;
  }
  double lag_ms = 0;
  if (have_oldest) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    lag_ms = ((double)now.tv_sec - oldest[2]) * 1e3 + ((double)now.tv_nsec - oldest[3]) / 1e6;
    if (lag_ms < 0) lag_ms = 0;
  }
  for (int i = 0; i < nshed_ports; i++) {
    const char *pn = shed_ports[i].proto == 6 ? "tcp" : shed_ports[i].proto == 17 ? "udp" : shed_ports[i].proto == 132 ? "sctp" : NULL;
    if (pn) pl += (size_t)snprintf(ports + pl, sizeof ports - pl, "%s\"%s/%u\":%" PRIu64, pl ? "," : "", pn, shed_ports[i].port, shed_ports[i].flows);
    else pl += (size_t)snprintf(ports + pl, sizeof ports - pl, "%s\"ip/%u\":%" PRIu64, pl ? "," : "", shed_ports[i].proto, shed_ports[i].flows);
  }
  if (shed_other_flows) pl += (size_t)snprintf(ports + pl, sizeof ports - pl, "%s\"other\":%" PRIu64, pl ? "," : "", shed_other_flows);
  ports[pl] = 0;
  fprintf(stderr,
          "shark-capture stats {\"received\":%" PRIu64 ",\"delivered\":%" PRIu64 ",\"kernelDropped\":%" PRIu64
          ",\"ifDropped\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"shedFlows\":%" PRIu64 ",\"shedPackets\":%" PRIu64
          ",\"shedByPort\":{%s},\"flowTableFull\":%" PRIu64 ",\"ringBytes\":%" PRIu64 ",\"ringSize\":%" PRIu64
          ",\"spoolBytes\":%" PRIu64 ",\"spoolSize\":%" PRIu64 ",\"lagMs\":%.1f,\"shedding\":%s,\"final\":%s}\n",
          received, delivered, kernel_drop, if_drop, dropped, shed_flows, shed_packets, ports, flow_table_full,
          ring_head - ring_tail, ring_size, spool_w - spool_r, spool_fd >= 0 ? spool_size : 0, lag_ms,
          shedding ? "true" : "false", final ? "true" : "false");
  pthread_mutex_unlock(&mu);
  fflush(stderr);
}

/* ---------- setup ---------- */

static void on_signal(int sig) {
  (void)sig;
  atomic_store(&stop_requested, 1);
}

static void usage(void) {
  fputs("usage: shark-capture -i IFACE [-i IFACE …] [-f FILTER] [-s SNAPLEN] [-B KERNEL_BUFFER]\n"
        "         [--ring SIZE] [--spool SIZE [--spool-dir DIR]] [--high PCT] [--low PCT]\n"
        "         [--flows N] [--stats-ms MS] [--immediate] [--ready-file PATH] [--ack-dir DIR]\n",
        stderr);
  exit(2);
}

/* Tell shark (which waits synchronously) the outcome of opening, atomically. */
static void ready_file(const char *json) {
  if (!opt_ready_file || ready_written) return;
  ready_written = 1;
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", opt_ready_file);
  FILE *f = fopen(tmp, "w");
  if (!f) die("%s: %s", tmp, strerror(errno));
  fputs(json, f);
  fclose(f);
  if (rename(tmp, opt_ready_file) != 0) die("%s: %s", opt_ready_file, strerror(errno));
}

static void json_escape(char *out, size_t outlen, const char *s) {
  size_t o = 0;
  for (; *s && o + 7 < outlen; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { out[o++] = '\\'; out[o++] = (char)c; }
    else if (c < 0x20) o += (size_t)snprintf(out + o, outlen - o, "\\u%04x", c);
    else out[o++] = (char)c;
  }
  out[o] = 0;
}

static void open_failed(const char *kind, const char *iface, const char *msg) {
  char esc[1024], ifesc[128], json[1300];
  json_escape(esc, sizeof esc, msg);
  json_escape(ifesc, sizeof ifesc, iface);
  snprintf(json, sizeof json, "{\"error\":\"%s\",\"interface\":\"%s\",\"message\":\"%s\"}\n", kind, ifesc, esc);
  ready_file(json);
  die("%s: %s", iface, msg);
}

static void open_iface(int i) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t *p = pcap_create(ifnames[i], err);
  if (!p) open_failed("other", ifnames[i], err);
  pcap_set_snaplen(p, opt_snaplen);
  pcap_set_promisc(p, 0);
  pcap_set_buffer_size(p, (int)(opt_bufsize > 0x7fffffff ? 0x7fffffff : opt_bufsize));
  /* Buffered with a short timeout (blocks retired every 10 ms) unless immediate. */
  if (opt_immediate) pcap_set_immediate_mode(p, 1);
  else pcap_set_timeout(p, 10);
  /* Nanoseconds from the kernel when libpcap can; else microseconds, scaled below. */
  int nano = pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO) == 0;
  int rc = pcap_activate(p);
  if (rc < 0) {
    const char *kind = rc == PCAP_ERROR_PERM_DENIED ? "permission" : rc == PCAP_ERROR_NO_SUCH_DEVICE ? "nodevice" : "other";
    open_failed(kind, ifnames[i], pcap_geterr(p));
  }
  ifaces[i].ts_scale = nano && pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO ? 1 : 1000;
  if (opt_filter[0]) {
    struct bpf_program prog;
    if (pcap_compile(p, &prog, opt_filter, 1, PCAP_NETMASK_UNKNOWN) != 0) open_failed("filter", ifnames[i], pcap_geterr(p));
    if (pcap_setfilter(p, &prog) != 0) open_failed("filter", ifnames[i], pcap_geterr(p));
    pcap_freecode(&prog);
  }
  if (pcap_setnonblock(p, 1, err) != 0) open_failed("other", ifnames[i], err);
  ifaces[i].p = p;
  ifaces[i].dlt = pcap_datalink(p);
  ifaces[i].fd = pcap_get_selectable_fd(p);
  if (ifaces[i].fd < 0) open_failed("other", ifnames[i], "no selectable file descriptor");
}

/*
 * The kernel stamps a received skb once, in netif_receive_skb, only while
 * some socket asked for receive timestamps; otherwise every packet socket
 * reading it takes its own clock reading, and shark and a tcpdump beside it
 * disagree by a microsecond or so. Holding one socket with SO_TIMESTAMPNS
 * turns the stamp on (system-wide, as NTP daemons usually have it already),
 * so a packet has one time, taken where it entered the stack.
 */
static void want_skb_timestamps(void) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int on = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0)
    fprintf(stderr, "shark-capture: cannot ask for kernel receive timestamps (%s): packets are stamped as libpcap reads them\n", strerror(errno));
  /* Kept open for the life of the process. */
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED() do { if (!v) usage(); i++; } while (0)
    if (!strcmp(a, "-i")) { NEED(); if (nifaces == MAX_IFACES) die("at most %d interfaces", MAX_IFACES); ifnames[nifaces++] = v; }
    else if (!strcmp(a, "-f")) { NEED(); opt_filter = v; }
    else if (!strcmp(a, "-s")) { NEED(); opt_snaplen = atoi(v); }
    else if (!strcmp(a, "-B")) { NEED(); opt_bufsize = parse_size(v, "-B"); }
    else if (!strcmp(a, "--ring")) { NEED(); opt_ring = parse_size(v, "--ring"); }
    else if (!strcmp(a, "--spool")) { NEED(); opt_spool = parse_size(v, "--spool"); }
    else if (!strcmp(a, "--spool-dir")) { NEED(); opt_spool_dir = v; }
    else if (!strcmp(a, "--high")) { NEED(); opt_high = (unsigned)atoi(v); }
    else if (!strcmp(a, "--low")) { NEED(); opt_low = (unsigned)atoi(v); }
    else if (!strcmp(a, "--flows")) { NEED(); opt_flows = (uint32_t)parse_size(v, "--flows"); }
    else if (!strcmp(a, "--stats-ms")) { NEED(); opt_stats_ms = (unsigned)atoi(v); }
    else if (!strcmp(a, "--ready-file")) { NEED(); opt_ready_file = v; }
    else if (!strcmp(a, "--ack-dir")) { NEED(); opt_ack_dir = v; }
    else if (!strcmp(a, "--immediate")) opt_immediate = 1;
    else usage();
#undef NEED
  }
  if (nifaces == 0) usage();
  if (opt_snaplen < 64 || opt_snaplen > MAX_SNAPLEN) die("-s: snaplen must be 64..%d", MAX_SNAPLEN);
  if (opt_high > 100 || opt_low >= opt_high) die("--low must be below --high, both percentages");
  if (opt_stats_ms < 50) opt_stats_ms = 50;
  /* The ring must hold the largest record; rounded to 4 so records never straddle oddly. */
  uint64_t min_ring = 2 * (HDR + MAX_SNAPLEN);
  ring_size = (opt_ring < min_ring ? min_ring : opt_ring) & ~(uint64_t)3;
  ring = malloc(ring_size);
  if (!ring) die("--ring: cannot allocate %" PRIu64 " bytes", ring_size);
  if (opt_spool) {
    spool_size = (opt_spool < min_ring ? min_ring : opt_spool) & ~(uint64_t)3;
    char path[4096];
    const char *dir = opt_spool_dir ? opt_spool_dir : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(path, sizeof path, "%s/shark-spool-XXXXXX", dir);
    spool_fd = mkstemp(path);
    if (spool_fd < 0) die("--spool-dir %s: %s", dir, strerror(errno));
    unlink(path); /* gone with the process, whatever way it ends */
  }
  uint32_t nb = 1;
  while (nb * FLOW_WAYS < opt_flows && nb < (1u << 24)) nb <<= 1;
  flow_buckets = nb;
  flows = calloc((size_t)nb * FLOW_WAYS, sizeof *flows);
  if (!flows) die("--flows: cannot allocate the flow table");

  want_skb_timestamps();
  for (int i = 0; i < nifaces; i++) open_iface(i);

  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = { .sa_handler = on_signal };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  pthread_t cap_t, wr_t, ctl_t;
  if (pthread_create(&wr_t, NULL, writer_main, NULL) || pthread_create(&cap_t, NULL, capture_main, NULL) ||
      pthread_create(&ctl_t, NULL, control_main, NULL))
    die("cannot start threads");
  pthread_detach(ctl_t); /* blocked in read(2) until stdin ends; exit() ends it */

  char json[MAX_IFACES * 128 + 64];
  size_t jl = (size_t)snprintf(json, sizeof json, "{\"interfaces\":[");
  for (int i = 0; i < nifaces; i++) {
    char esc[64];
    json_escape(esc, sizeof esc, ifnames[i]);
    jl += (size_t)snprintf(json + jl, sizeof json - jl, "%s{\"name\":\"%s\",\"dlt\":%d,\"snaplen\":%d}", i ? "," : "", esc,
                           ifaces[i].dlt, pcap_snapshot(ifaces[i].p));
  }
  snprintf(json + jl, sizeof json - jl, "]}\n");
  ready_file(json);

  /* Stats until the writer has handed on the last packet (or the reader left). */
  uint64_t next = now_ms() + opt_stats_ms;
  for (;;) {
    pthread_mutex_lock(&mu);
    int done = writer_done;
    pthread_mutex_unlock(&mu);
    if (done) break;
    struct timespec ts = { 0, 20 * 1000000 };
    nanosleep(&ts, NULL);
    if (now_ms() >= next) {
      print_stats(0);
      next += opt_stats_ms;
    }
  }
  pthread_join(wr_t, NULL);
  if (output_gone) atomic_store(&stop_requested, 1);
  pthread_join(cap_t, NULL);
  print_stats(1);
  return capture_failed ? 1 : 0;
}
