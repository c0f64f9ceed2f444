// SPDX-License-Identifier: Apache-2.0
/* shark-tls-capture: loads tls_capture.bpf.c, attaches its uprobes to every
 * OpenSSL it is told about (--lib) or finds mapped by a process
 * (/proc/PID/maps, rescanned every --rescan-ms for new processes), and writes
 * a framed binary stream to stdout for shark (src/tls-capture/frames.ts):
 *
 *   frame  = u32 length (of the whole frame, little endian) | u8 type | body
 *   type 1 DATA / 2 CLOSE : struct tls_event's header (ts in CLOCK_REALTIME ns) + data
 *   type 3 COUNTERS       : C_MAX u64 counters (summed over CPUs) + u64 ring size
 *   type 4 ATTACHED       : u32 pid the file was found in (0: --lib) + path
 *   type 5 WARNING        : one line of text
 *   type 6 READY          : the first scan is attached: traffic from now on is seen
 *
 * Exits on SIGINT/SIGTERM, on stdin's end (shark went away) or when stdout
 * closes, after draining the ring and writing the final counters. Exit codes:
 * 0 ok, 2 usage, 4 BPF could not be loaded or attached (a one-line reason on
 * stderr, for shark to repeat). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "tls_capture.h"
#include "tls_capture.skel.h"

enum { F_DATA = 1, F_CLOSE = 2, F_COUNTERS = 3, F_ATTACHED = 4, F_WARNING = 5, F_READY = 6 };

/* Files already handled, by device and inode (the same library seen through
 * many processes' /proc/PID/root is attached once: uprobes are per inode). */
#define MAX_FILES 4096
static struct seen_file { dev_t dev; ino_t ino; int attached; } seen[MAX_FILES];
static int nseen;

static volatile sig_atomic_t stopping;
static long long realtime_offset_ns;
static int verbose;
static struct tls_capture_bpf *skel;
static unsigned long long ring_size = 8ull << 20;
static int out_broken;

static void on_signal(int sig) { (void)sig; stopping = 1; }

static void frame(unsigned char type, const void *a, size_t alen, const void *b, size_t blen) {
  if (out_broken) return;
  unsigned int len = 5 + alen + blen;
  if (fwrite(&len, 4, 1, stdout) != 1 || fwrite(&type, 1, 1, stdout) != 1 ||
      (alen && fwrite(a, alen, 1, stdout) != 1) || (blen && fwrite(b, blen, 1, stdout) != 1)) {
    out_broken = 1;
    stopping = 1;
  }
}

static void warn(const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (n < 0) return;
  frame(F_WARNING, line, strlen(line), NULL, 0);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
  if (!verbose && level != LIBBPF_WARN) return 0;
  if (!verbose) return 0; /* symbol look-ups that fail are expected: binaries without OpenSSL */
  return vfprintf(stderr, fmt, ap);
}

static int on_event(void *ctx, void *data, size_t size) {
  (void)ctx;
  if (size < TLS_EVENT_HEADER) return 0;
  /* The ring's pages are read-only here: the header is copied to restamp it. */
  struct tls_event hdr;
  memcpy(&hdr, data, TLS_EVENT_HEADER);
  hdr.ts_ns += realtime_offset_ns;
  frame(hdr.kind == EV_CLOSE ? F_CLOSE : F_DATA, &hdr, TLS_EVENT_HEADER, (const char *)data + TLS_EVENT_HEADER, size - TLS_EVENT_HEADER);
  return 0;
}

static void write_counters(void) {
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return;
  unsigned long long totals[C_MAX + 1] = {0};
  unsigned long long *per = calloc(ncpu, sizeof(*per));
  if (!per) return;
  int fd = bpf_map__fd(skel->maps.counters);
  for (unsigned int k = 0; k < C_MAX; k++) {
    if (bpf_map_lookup_elem(fd, &k, per) != 0) { if (verbose) fprintf(stderr, "counters: %s\n", strerror(errno)); continue; }
    for (int c = 0; c < ncpu; c++) totals[k] += per[c];
  }
  free(per);
  totals[C_MAX] = ring_size;
  frame(F_COUNTERS, totals, sizeof(totals), NULL, 0);
}

struct probe { const char *func; struct bpf_program *prog; int ret; };

/* Attach every probe to one file; 1 when at least SSL_write and SSL_read were found. */
static int attach_file(const char *path, unsigned int pid, const char *shown) {
  struct stat st;
  if (stat(path, &st) != 0) return 0;
  for (int i = 0; i < nseen; i++)
    if (seen[i].dev == st.st_dev && seen[i].ino == st.st_ino) return seen[i].attached;
  if (nseen == MAX_FILES) return 0;
  struct seen_file *s = &seen[nseen++];
  s->dev = st.st_dev;
  s->ino = st.st_ino;
  struct probe probes[] = {
    { "SSL_write", skel->progs.ssl_write_enter, 0 },
    { "SSL_write", skel->progs.ssl_return, 1 },
    { "SSL_read", skel->progs.ssl_read_enter, 0 },
    { "SSL_read", skel->progs.ssl_return, 1 },
    { "SSL_write_ex", skel->progs.ssl_write_ex_enter, 0 },
    { "SSL_write_ex", skel->progs.ssl_return, 1 },
    { "SSL_read_ex", skel->progs.ssl_read_ex_enter, 0 },
    { "SSL_read_ex", skel->progs.ssl_return, 1 },
    { "SSL_set_fd", skel->progs.ssl_set_fd, 0 },
  };
  int ok = 0;
  for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
    LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = probes[i].func, .retprobe = probes[i].ret);
    struct bpf_link *l = bpf_program__attach_uprobe_opts(probes[i].prog, -1, path, 0, &opts);
    if (!l) {
      /* The kernel refused the uprobe (not a missing symbol): said once, or
       * nothing is ever captured and nobody knows why. Some kernels want
       * CAP_SYS_ADMIN for uprobe perf events even with CAP_PERFMON. */
      static int denied_said;
      if ((errno == EPERM || errno == EACCES) && !denied_said) {
        denied_said = 1;
        warn("%s: the kernel refused the uprobe (%s): needs CAP_SYS_ADMIN on this kernel (CAP_PERFMON is not enough)", shown, strerror(errno));
      }
      if (i < 4 && ok == 0 && i == 0) break; /* no SSL_write: not an OpenSSL */
      continue;
    }
    ok++;
  }
  /* Links stay attached until the process exits (the kernel detaches them then). */
  s->attached = ok >= 4;
  if (s->attached) {
    frame(F_ATTACHED, &pid, 4, shown, strlen(shown));
  } else if (ok > 0) {
    warn("%s: only %d of 9 OpenSSL probes attached", shown, ok);
  }
  return s->attached;
}

#if defined(__x86_64__)
/* "go PATH WRITE_RETS READ_RETS": hook a Go binary's crypto/tls.(*Conn).Write
 * and Read at their entries and at each RET (offsets from the function's
 * start, comma-separated; shark finds them by disassembling: go-binaries.ts). */
static void attach_go(char *line) {
  char *save = NULL;
  strtok_r(line, " ", &save);
  char *path = strtok_r(NULL, " ", &save), *wr = strtok_r(NULL, " ", &save), *rd = strtok_r(NULL, " \n", &save);
  if (!path || !wr || !rd) { warn("bad go command"); return; }
  struct { const char *func; struct bpf_program *enter; char *rets; } fns[] = {
    { "crypto/tls.(*Conn).Write", skel->progs.go_write_enter, wr },
    { "crypto/tls.(*Conn).Read", skel->progs.go_read_enter, rd },
  };
  int ok = 0, want = 0;
  for (int i = 0; i < 2; i++) {
    LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = fns[i].func);
    want++;
    if (bpf_program__attach_uprobe_opts(fns[i].enter, -1, path, 0, &opts)) ok++;
    char *s2 = NULL;
    for (char *r = strtok_r(fns[i].rets, ",", &s2); r; r = strtok_r(NULL, ",", &s2)) {
      LIBBPF_OPTS(bpf_uprobe_opts, ropts, .func_name = fns[i].func);
      want++;
      if (bpf_program__attach_uprobe_opts(skel->progs.go_return, -1, path, strtoul(r, NULL, 10), &ropts)) ok++;
    }
  }
  if (ok == want) {
    unsigned int zero = 0;
    frame(F_ATTACHED, &zero, 4, path, strlen(path));
  } else {
    warn("%s: %d of %d Go crypto/tls probes attached", path, ok, want);
  }
}
#endif

/* Commands on stdin, one a line; its end means shark is gone. */
static char cmdbuf[8192];
static size_t cmdlen;
static void read_commands(void) {
  ssize_t n = read(0, cmdbuf + cmdlen, sizeof(cmdbuf) - 1 - cmdlen);
  if (n <= 0) { stopping = 1; return; }
  cmdlen += n;
  cmdbuf[cmdlen] = 0;
  char *start = cmdbuf, *nl;
  while ((nl = memchr(start, '\n', cmdbuf + cmdlen - start)) != NULL) {
    *nl = 0;
#if defined(__x86_64__)
    if (strncmp(start, "go ", 3) == 0) attach_go(start);
#endif
    start = nl + 1;
  }
  cmdlen = cmdbuf + cmdlen - start;
  memmove(cmdbuf, start, cmdlen);
  if (cmdlen == sizeof(cmdbuf) - 1) cmdlen = 0; /* a line longer than the buffer: dropped */
}

static int is_candidate(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  return strncmp(base, "libssl.so", 9) == 0;
}

/* TLS libraries this loader does not hook: a process that maps one speaks TLS
 * this tap cannot read. Said once per executable and library (bounded), so
 * that an empty result is explained rather than silent. */
static const struct { const char *prefix, *name; } UNHOOKED[] = {
  { "libgnutls.so", "GnuTLS" }, { "libnss3.so", "NSS" }, { "libwolfssl.so", "wolfSSL" }, { "libmbedtls.so", "Mbed TLS" },
};
#define MAX_UNHOOKED_SAID 256
static char *unhooked_said[MAX_UNHOOKED_SAID];
static int nunhooked_said;

static const char *unhooked_library(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  for (size_t i = 0; i < sizeof(UNHOOKED) / sizeof(UNHOOKED[0]); i++)
    if (strncmp(base, UNHOOKED[i].prefix, strlen(UNHOOKED[i].prefix)) == 0) return UNHOOKED[i].name;
  return NULL;
}

static void say_unhooked(unsigned long pid, const char *exe, const char *library) {
  char key[PATH_MAX + 32];
  snprintf(key, sizeof(key), "%s|%s", exe, library);
  for (int i = 0; i < nunhooked_said; i++) if (strcmp(unhooked_said[i], key) == 0) return;
  if (nunhooked_said == MAX_UNHOOKED_SAID) {
    // Past the bound no more are remembered, so none is said again: said once that the rest go unsaid.
    static int told_full;
    if (!told_full) warn("not hooked: more than %d executables use TLS libraries shark does not hook; the rest are not named", MAX_UNHOOKED_SAID);
    told_full = 1;
    return;
  }
  unhooked_said[nunhooked_said++] = strdup(key);
  warn("not hooked: %s (pid %lu) uses %s, which shark does not hook: its TLS traffic is not seen", exe[0] ? exe : "a process", pid, library);
}

/* Every process's mapped libssl, and its executable when it carries OpenSSL
 * itself (statically linked, symbols kept: node is one). */
static void scan(void) {
  DIR *proc = opendir("/proc");
  if (!proc) return;
  struct dirent *d;
  char file[PATH_MAX + 64], line[PATH_MAX + 256], full[PATH_MAX + 64];
  while ((d = readdir(proc)) != NULL) {
    char *end;
    unsigned long pid = strtoul(d->d_name, &end, 10);
    if (*end || pid == 0 || pid == (unsigned long)getpid()) continue;
    snprintf(file, sizeof(file), "/proc/%lu/maps", pid);
    FILE *f = fopen(file, "r");
    if (!f) {
      /* Another user's process without CAP_SYS_PTRACE: its OpenSSL would be missed without a word. */
      static int denied_said;
      if ((errno == EACCES || errno == EPERM) && !denied_said) {
        denied_said = 1;
        warn("cannot read /proc/%lu/maps (%s): processes this loader may not inspect are not hooked (other users' need CAP_SYS_PTRACE; said once)", pid, strerror(errno));
      }
      continue;
    }
    char exe[PATH_MAX] = "";
    snprintf(file, sizeof(file), "/proc/%lu/exe", pid);
    ssize_t n = readlink(file, exe, sizeof(exe) - 1);
    if (n > 0) exe[n] = 0; else exe[0] = 0;
    while (fgets(line, sizeof(line), f)) {
      char *path = strchr(line, '/');
      if (!path) continue;
      path[strcspn(path, "\n")] = 0;
      int own_exe = exe[0] && strcmp(path, exe) == 0 && strstr(line, "r-xp");
      const char *unhooked = unhooked_library(path);
      if (unhooked) say_unhooked(pid, exe, unhooked);
      if (!is_candidate(path) && !own_exe) continue;
      if (strstr(path, " (deleted)")) continue;
      snprintf(full, sizeof(full), "/proc/%lu/root%s", pid, path);
      attach_file(full, (unsigned int)pid, path);
    }
    fclose(f);
  }
  closedir(proc);
}

static long long now_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void usage(void) {
  fprintf(stderr, "usage: shark-tls-capture [--lib PATH]... [--go 'PATH WRITE_RETS READ_RETS']... [--no-scan] [--rescan-ms N] [--ring-size BYTES] [--verbose]\n");
}

int main(int argc, char **argv) {
  const char *libs[64];
  char *gos[64];
  int nlibs = 0, ngos = 0, do_scan = 1, rescan_ms = 1000;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--lib") && i + 1 < argc && nlibs < 64) libs[nlibs++] = argv[++i];
    else if (!strcmp(argv[i], "--go") && i + 1 < argc && ngos < 64) gos[ngos++] = argv[++i];
    else if (!strcmp(argv[i], "--no-scan")) do_scan = 0;
    else if (!strcmp(argv[i], "--rescan-ms") && i + 1 < argc) rescan_ms = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--ring-size") && i + 1 < argc) ring_size = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--verbose")) verbose = 1;
    else { usage(); return 2; }
  }
  /* A power of two, a page multiple: the kernel's rule for ring buffers. */
  if (ring_size < 4096 || (ring_size & (ring_size - 1))) { fprintf(stderr, "--ring-size must be a power of two >= 4096\n"); return 2; }
  libbpf_set_print(libbpf_print);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);
  static char outbuf[1 << 16];
  setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));

  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
    fprintf(stderr, "the kernel has no BTF (/sys/kernel/btf/vmlinux missing): CO-RE BPF cannot load\n");
    return 4;
  }
  skel = tls_capture_bpf__open();
  if (!skel) { fprintf(stderr, "cannot open the BPF object: %s\n", strerror(errno)); return 4; }
  bpf_map__set_max_entries(skel->maps.events, ring_size);
  int err = tls_capture_bpf__load(skel);
  if (err) {
    fprintf(stderr, "cannot load BPF programs: %s%s\n", strerror(-err),
            (-err == EPERM || -err == EACCES) ? " (needs root, or CAP_BPF + CAP_PERFMON + CAP_SYS_RESOURCE)" : "");
    return 4;
  }
  /* libbpf finds tracepoints through tracefs, which a fresh boot or a container may not have mounted. */
  if (access("/sys/kernel/tracing/events/syscalls", F_OK) != 0 && access("/sys/kernel/debug/tracing/events/syscalls", F_OK) != 0)
    mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL);
  err = tls_capture_bpf__attach(skel); /* the syscall tracepoints; uprobes are attached per file below */
  if (err) {
    fprintf(stderr, "cannot attach syscall tracepoints: %s%s\n", strerror(-err),
            access("/sys/kernel/tracing/events/syscalls", F_OK) != 0 ? " (tracefs is not mounted at /sys/kernel/tracing and could not be)" : "");
    return 4;
  }
  struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
  if (!rb) { fprintf(stderr, "cannot open the ring buffer: %s\n", strerror(errno)); return 4; }
  realtime_offset_ns = now_ns(CLOCK_REALTIME) - now_ns(CLOCK_MONOTONIC);

  for (int i = 0; i < nlibs; i++)
    if (!attach_file(libs[i], 0, libs[i])) warn("%s: no OpenSSL symbols (SSL_write/SSL_read) to attach to", libs[i]);
#if defined(__x86_64__)
  for (int i = 0; i < ngos; i++) {
    char line[PATH_MAX + 1024];
    snprintf(line, sizeof(line), "go %s", gos[i]);
    attach_go(line);
  }
#else
  if (ngos > 0) warn("Go crypto/tls probes are only built for x86-64");
#endif
  if (do_scan) scan();
  frame(F_READY, NULL, 0, NULL, 0);
  write_counters();
  fflush(stdout);

  long long last_scan = now_ns(CLOCK_MONOTONIC), last_counters = last_scan;
  struct pollfd in = { .fd = 0, .events = POLLIN };
  while (!stopping) {
    int n = ring_buffer__poll(rb, 100);
    if (n < 0 && n != -EINTR) { warn("ring buffer poll failed: %s", strerror(-n)); break; }
    /* stdin closed: shark is gone. */
    if (poll(&in, 1, 0) > 0 && (in.revents & (POLLHUP | POLLERR | POLLIN))) read_commands();
    long long t = now_ns(CLOCK_MONOTONIC);
    if (do_scan && t - last_scan >= rescan_ms * 1000000ll) { scan(); last_scan = t; }
    if (t - last_counters >= 1000000000ll) { write_counters(); last_counters = t; }
    fflush(stdout);
  }
  ring_buffer__consume(rb);
  write_counters();
  fflush(stdout);
  ring_buffer__free(rb);
  tls_capture_bpf__destroy(skel);
  return 0;
}
