/* Logging with levels and a terminal-aware progress bar. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "guardian/core.h"

static gdn_log_level current_level = GDN_LOG_INFO;

void gdn_log_set_level(gdn_log_level level)
{
    current_level = level;
}

gdn_log_level gdn_log_get_level(void)
{
    return current_level;
}

void gdn_log(gdn_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    va_list ap;

    if (level > current_level)
        return;
    fprintf(stderr, "[%s] ", names[level]);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void gdn_progress_start(gdn_progress *p, const char *label, uint64_t total)
{
    memset(p, 0, sizeof *p);
    p->label = label;
    p->total = total ? total : 1;
    p->t_start = p->t_last = gdn_now();
    p->tty = isatty(STDERR_FILENO);
    p->last_decile = -1;
}

static void draw(gdn_progress *p, int final)
{
    double elapsed = gdn_now() - p->t_start;
    double frac = (double)p->done / (double)p->total;
    double rate = elapsed > 0 ? (double)p->done / elapsed : 0;
    double eta = rate > 0 ? (double)(p->total - p->done) / rate : 0;

    if (p->tty) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r%s [%s] %3.0f%% %.0f/s %s %s %.1fs\033[K%s", p->label,
                bar, frac * 100, rate, p->suffix, final ? "in" : "eta",
                final ? elapsed : eta, final ? "\n" : "");
    } else {
        fprintf(stderr, "%s %3.0f%% (%llu/%llu) %.0f/s %.1fs %s\n", p->label,
                frac * 100, (unsigned long long)p->done,
                (unsigned long long)p->total, rate, elapsed, p->suffix);
    }
    fflush(stderr);
}

void gdn_progress_update(gdn_progress *p, uint64_t done, const char *suffix)
{
    double now = gdn_now();
    int decile;

    p->done = done < p->total ? done : p->total;
    if (suffix)
        snprintf(p->suffix, sizeof p->suffix, "%s", suffix);
    decile = (int)(p->done * 10 / p->total);
    if (p->tty ? now - p->t_last >= 0.1 : decile > p->last_decile && decile < 10) {
        p->t_last = now;
        p->last_decile = decile;
        draw(p, 0);
    }
}

void gdn_progress_end(gdn_progress *p)
{
    p->done = p->total;
    draw(p, 1);
}
