// Holds MIB MiB of noise and ticks every 2 ms, for checkpoint/restore tests and the
// checkpoint benchmark:  memnoise MIB [PAGES_PER_TICK]
//
// Page i holds 512 words derived from (i, version[i]); version[] lives in guest memory
// too (a shared mapping; the pages are a private one). Each tick rewrites PAGES_PER_TICK pages round-robin (version first, then the
// page), so at any instruction at most one page is behind its version, and between ticks
// every page matches. A checkpoint that missed or tore a write restores into a state
// where some page does not match.
//
// Prints "ready PAGES" once the memory is filled. SIGUSR1: verify every page and print
// "verified PAGES maxgap_us=G" (or "CORRUPT page I"); SIGUSR2: print "maxgap_us=G", the
// largest time between two ticks since the last report, and start over.
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t want_verify, want_report;

static void on_usr1(int s) { (void)s; want_verify = 1; }
static void on_usr2(int s) { (void)s; want_report = 1; }

static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t *mem;
static uint32_t *version;

static void fill(size_t i) {
    uint64_t *p = mem + i * 512, s = mix(((uint64_t)i << 24) ^ version[i]);
    for (int k = 0; k < 512; k++) {
        s = mix(s);
        p[k] = s;
    }
}

static int check(size_t i) {
    uint64_t *p = mem + i * 512, s = mix(((uint64_t)i << 24) ^ version[i]);
    for (int k = 0; k < 512; k++) {
        s = mix(s);
        if (p[k] != s) return 0;
    }
    return 1;
}

static uint64_t now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void say(const char *s) {
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(1, s, n);
        if (w <= 0) return;
        s += w;
        n -= w;
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        say("usage: memnoise MIB [PAGES_PER_TICK]\n");
        return 2;
    }
    size_t pages = (size_t)atol(argv[1]) * 256;
    size_t per_tick = argc > 2 ? (size_t)atol(argv[2]) : 0;
    mem = mmap(0, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    // Shared, so that both kinds of mapping are written during a checkpoint.
    version = mmap(0, pages * 4 + 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED || version == MAP_FAILED) {
        say("mmap failed\n");
        return 1;
    }
    for (size_t i = 0; i < pages; i++) fill(i);
    signal(SIGUSR1, on_usr1);
    signal(SIGUSR2, on_usr2);
    char line[128];
    snprintf(line, sizeof line, "ready %zu\n", pages);
    say(line);
    uint64_t last = now_us(), maxgap = 0;
    size_t next = 0;
    struct timespec tick = {0, 2000000};
    for (;;) {
        for (size_t n = 0; n < per_tick; n++) {
            version[next]++;
            fill(next);
            next = (next + 1) % pages;
        }
        nanosleep(&tick, 0);
        uint64_t t = now_us();
        if (t - last > maxgap) maxgap = t - last;
        last = t;
        if (want_report) {
            want_report = 0;
            snprintf(line, sizeof line, "maxgap_us=%llu\n", (unsigned long long)maxgap);
            say(line);
            maxgap = 0;
            last = now_us();
        }
        if (want_verify) {
            want_verify = 0;
            size_t bad = pages;
            for (size_t i = 0; i < pages && bad == pages; i++)
                if (!check(i)) bad = i;
            if (bad == pages)
                snprintf(line, sizeof line, "verified %zu maxgap_us=%llu\n", pages,
                         (unsigned long long)maxgap);
            else
                snprintf(line, sizeof line, "CORRUPT page %zu\n", bad);
            say(line);
            last = now_us();
        }
    }
}
