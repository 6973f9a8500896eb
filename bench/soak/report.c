/*
 * report.c - the soak's figures: latency percentiles per route (answered
 * calls only; calls nobody answered while the daemon was down are counted
 * apart), the least-squares slope of RSS and of the file size after the
 * first SOAK_WARM_S, text sparklines per SOAK_BUCKET_S, and a
 * self-contained SVG of RSS, file size and p99 latency over time with the
 * kills marked.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/benchlib.h"
#include "soak.h"

static const char *const route_name[ROUTE_COUNT] = { "create", "list", "get" };
static const char *const route_color[ROUTE_COUNT] = { "#d62728", "#1f77b4", "#2ca02c" };

static int
cmp_int(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

/* Percentile q (0..1) of the answered calls' latencies in [from_s, to_s); -1 when none. */
static double
percentile_ms(struct soak_calls *c, double from_s, double to_s, double q, long *ok, long *bad,
    long *down)
{
	int32_t *v;
	size_t n = 0;
	double r = -1;

	*ok = *bad = *down = 0;
	pthread_mutex_lock(&c->mu);
	v = malloc((c->n + 1) * sizeof(*v));
	for (size_t i = 0; v && i < c->n; i++) {
		double t = c->v[i].t_ms / 1000.0;

		if (t < from_s || t >= to_s)
			continue;
		if (c->v[i].status == 0)
			(*down)++;
		else if (c->v[i].status >= 300)
			(*bad)++;
		else
			v[n++] = c->v[i].us;
	}
	pthread_mutex_unlock(&c->mu);
	*ok = (long)n;
	if (v && n) {
		size_t k = (size_t)ceil(q * (double)n);

		qsort(v, n, sizeof(*v), cmp_int);
		r = v[k ? k - 1 : 0] / 1000.0;
	}
	free(v);
	return r;
}

double
soak_p99_ms(struct soak_calls *c, double from_s, double to_s, long *ok, long *bad, long *down)
{
	return percentile_ms(c, from_s, to_s, 0.99, ok, bad, down);
}

/* Least-squares slope (per minute) after the warm-up of what: 0 VmRSS, 1 db+WAL, 2 RssAnon. */
static double
slope_per_min(const struct soak *s, int what)
{
	double n = 0, st = 0, sy = 0, stt = 0, sty = 0;

	for (size_t i = 0; i < s->nsamples; i++) {
		const struct soak_sample *x = &s->samples[i];
		double y = what == 0 ? x->rss_kb / 1024.0 : what == 2 ? x->anon_kb / 1024.0 :
		    (double)(x->db_bytes + x->wal_bytes) / 1048576.0;

		if (x->t < soak_warm_s(s) || (what != 1 && x->rss_kb == 0))
			continue;
		n++;
		st += x->t;
		sy += y;
		stt += x->t * x->t;
		sty += x->t * y;
	}
	if (n < 3 || n * stt - st * st == 0)
		return NAN;
	return (n * sty - st * sy) / (n * stt - st * st) * 60.0;
}

/* The samples' value (0 RSS MB, 1 db+wal MB, 2 db MB, 3 contexts) of bucket b: its largest. */
static double
bucket_value(const struct soak *s, int what, int b)
{
	double v = -1;

	for (size_t i = 0; i < s->nsamples; i++) {
		const struct soak_sample *x = &s->samples[i];
		double y;

		if ((int)(x->t / SOAK_BUCKET_S) != b)
			continue;
		y = what == 0 ? x->rss_kb / 1024.0 : what == 1 ?
		    (double)(x->db_bytes + x->wal_bytes) / 1048576.0 : what == 2 ?
		    (double)x->db_bytes / 1048576.0 :
		    (double)(x->pending + x->processing + x->completed + x->failed);
		if (y > v)
			v = y;
	}
	return v;
}

static void
sparkline(const char *label, const double *v, int n, const char *unit)
{
	static const char *const bars[8] = { "\u2581", "\u2582", "\u2583", "\u2584", "\u2585",
		"\u2586", "\u2587", "\u2588" };
	double lo = INFINITY, hi = -INFINITY;
	char line[4096] = "";
	size_t len = 0;

	for (int i = 0; i < n; i++)
		if (v[i] >= 0) {
			lo = fmin(lo, v[i]);
			hi = fmax(hi, v[i]);
		}
	for (int i = 0; i < n && len + 8 < sizeof(line); i++) {
		int k = v[i] < 0 ? -1 : hi > lo ? (int)((v[i] - lo) / (hi - lo) * 7.0 + 0.5) : 0;

		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s", k < 0 ? " " : bars[k]);
	}
	soak_say("  %-12s %s  %.1f..%.1f %s", label, line, isfinite(lo) ? lo : 0,
	    isfinite(hi) ? hi : 0, unit);
}

double
soak_warm_s(const struct soak *s)
{
	return s->seconds >= 2 * SOAK_WARM_S ? SOAK_WARM_S : s->seconds / 2.0;
}

/* The RSS each run of the daemon had at its last sample (before its kill or stop). */
static void
report_lives(const struct soak *s)
{
	char line[2048];
	size_t len = 0;

	line[0] = '\0';
	for (size_t i = 0; i < s->nsamples && len + 16 < sizeof(line); i++) {
		const struct soak_sample *x = &s->samples[i];
		int last = i + 1 == s->nsamples || s->samples[i + 1].life != x->life ||
		    s->samples[i + 1].rss_kb == 0;

		if (x->rss_kb > 0 && last)
			len += (size_t)snprintf(line + len, sizeof(line) - len, " %.1f/%.1f/%d",
			    x->rss_kb / 1024.0, x->anon_kb / 1024.0, x->db_fds);
	}
	soak_say("soak rss at the end of each run (VmRSS MB/RssAnon MB/SQLite connections):%s",
	    line);
}

static void
report_latency(struct soak *s, double end)
{
	for (int r = 0; r < ROUTE_COUNT; r++) {
		long ok, bad, down, w_ok, w_bad, w_down;
		double p50 = percentile_ms(&s->calls[r], 0, end, 0.50, &ok, &bad, &down);
		double p99 = percentile_ms(&s->calls[r], 0, end, 0.99, &ok, &bad, &down);
		double mx = percentile_ms(&s->calls[r], 0, end, 1.0, &ok, &bad, &down);
		double w99 = percentile_ms(&s->calls[r], soak_warm_s(s), end, 0.99, &w_ok, &w_bad,
		    &w_down);

		soak_say("soak latency %-6s calls=%ld answered_2xx=%ld other_status=%ld "
		    "unanswered_while_down=%ld p50=%.2f ms p99=%.2f ms max=%.2f ms "
		    "(p99 after %.0f s: %.2f ms)", route_name[r], ok + bad + down, ok, bad, down,
		    p50, p99, mx, soak_warm_s(s), w99);
	}
}

void
soak_report_figures(struct soak *s)
{
	int nb = (int)(soak_now(s) / SOAK_BUCKET_S) + 1;
	double end = soak_now(s) + 1, *v = calloc((size_t)nb + 1, sizeof(double));
	double peak_rss = 0;

	if (v == NULL)
		return;
	report_latency(s, end);
	pthread_mutex_lock(&s->samples_mu);
	for (size_t i = 0; i < s->nsamples; i++)
		peak_rss = fmax(peak_rss, s->samples[i].rss_kb / 1024.0);
	soak_say("soak rss peak=%.1f MB slope after %.0f s=%+.3f MB/min, of RssAnon %+.3f MB/min "
	    "(aim ~0)", peak_rss, soak_warm_s(s), slope_per_min(s, 0), slope_per_min(s, 2));
	report_lives(s);
	soak_say("soak file (db+wal) slope after %.0f s=%+.3f MB/min; now db=%.1f MB wal=%.1f MB",
	    soak_warm_s(s), slope_per_min(s, 1),
	    s->nsamples ? s->samples[s->nsamples - 1].db_bytes / 1048576.0 : 0,
	    s->nsamples ? s->samples[s->nsamples - 1].wal_bytes / 1048576.0 : 0);
	soak_say("soak sparklines, one mark per %d s (max of the samples in it):", SOAK_BUCKET_S);
	for (int what = 0; what < 4; what++) {
		static const char *const lab[4] = { "rss", "db+wal", "db", "contexts" };
		static const char *const unit[4] = { "MB", "MB", "MB", "" };

		for (int b = 0; b < nb; b++)
			v[b] = bucket_value(s, what, b);
		sparkline(lab[what], v, nb, unit[what]);
	}
	pthread_mutex_unlock(&s->samples_mu);
	for (int r = 0; r < ROUTE_COUNT; r++) {
		char lab[32];
		long ok, bad, down;

		for (int b = 0; b < nb; b++)
			v[b] = soak_p99_ms(&s->calls[r], b * SOAK_BUCKET_S, (b + 1) * SOAK_BUCKET_S, &ok,
			    &bad, &down);
		snprintf(lab, sizeof(lab), "p99 %s", route_name[r]);
		sparkline(lab, v, nb, "ms");
	}
	free(v);
}

/* ---- the SVG ---- */

#define SVG_W 960
#define SVG_PANEL_H 190
#define SVG_LEFT 70
#define SVG_RIGHT 150
#define SVG_TOP 56

struct panel {
	int y0;			/* top of the plot area */
	double tmax, vmax;
	const char *title;
	int log;		/* a log10 axis from 0.1 to vmax */
};

static double
px(const struct panel *p, double t)
{
	return SVG_LEFT + t / p->tmax * (SVG_W - SVG_LEFT - SVG_RIGHT);
}

static double
py(const struct panel *p, double v)
{
	double f = p->vmax > 0 ? v / p->vmax : 0;

	if (p->log)
		f = (log10(fmax(v, 0.1)) + 1) / (log10(p->vmax) + 1);
	return p->y0 + SVG_PANEL_H - f * SVG_PANEL_H;
}

static void
svg_frame(FILE *f, const struct soak *s, const struct panel *p)
{
	int x1 = SVG_W - SVG_RIGHT;

	fprintf(f, "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">%s</text>\n", SVG_LEFT,
	    p->y0 - 8, p->title);
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
	    "stroke=\"#888\"/>\n", SVG_LEFT, p->y0, x1 - SVG_LEFT, SVG_PANEL_H);
	for (int k = 0; k <= 4; k++) {
		double v = p->log ? pow(10, k - 1) : p->vmax * k / 4.0;

		if (p->log && v > p->vmax)
			break;
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n",
		    SVG_LEFT - 5, py(p, v) + 4, v);
		fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n",
		    SVG_LEFT, x1, py(p, v), py(p, v));
	}
	for (int t = 0; t <= (int)p->tmax; t += 60)
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d s</text>\n",
		    px(p, t), p->y0 + SVG_PANEL_H + 14, t);
	for (int k = 1; k < s->life && k < SOAK_MAX_LIVES; k++)
		if (s->kill_at[k] > 0)
			fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#f99\" "
			    "stroke-dasharray=\"3,3\"/>\n", px(p, s->kill_at[k]), px(p, s->kill_at[k]),
			    p->y0, p->y0 + SVG_PANEL_H);
}

static void
svg_legend(FILE *f, const struct panel *p, int k, const char *color, const char *label)
{
	int x = SVG_W - SVG_RIGHT + 12, y = p->y0 + 14 + 18 * k;

	fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" "
	    "stroke-width=\"2\"/><text x=\"%d\" y=\"%d\">%s</text>\n", x, x + 18, y - 4, y - 4,
	    color, x + 24, y, label);
}

/*
 * Samples' series what (0 RSS MB, 1 db MB, 2 WAL MB, 3 RssAnon MB) as a
 * polyline; breaks where RSS is 0.
 */
static void
svg_samples(FILE *f, const struct soak *s, const struct panel *p, int what, const char *color)
{
	int open = 0;

	for (size_t i = 0; i < s->nsamples; i++) {
		const struct soak_sample *x = &s->samples[i];
		double y = what == 0 ? x->rss_kb / 1024.0 : what == 1 ?
		    x->db_bytes / 1048576.0 : what == 2 ? x->wal_bytes / 1048576.0 :
		    x->anon_kb / 1024.0;

		if ((what == 0 || what == 3) && x->rss_kb == 0) {
			if (open)
				fprintf(f, "\"/>\n");
			open = 0;
			continue;
		}
		if (!open)
			fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" "
			    "points=\"", color);
		fprintf(f, "%.1f,%.1f ", px(p, x->t), py(p, y));
		open = 1;
	}
	if (open)
		fprintf(f, "\"/>\n");
}

static void
svg_latency(FILE *f, struct soak *s, const struct panel *p, const double *v, int nb, int r)
{
	int open = 0;

	for (int b = 0; b < nb; b++) {
		double y = v[(size_t)r * (size_t)nb + (size_t)b];

		if (y < 0 || (b + 0.5) * SOAK_BUCKET_S > p->tmax) {
			if (open)
				fprintf(f, "\"/>\n");
			open = 0;
			continue;
		}
		if (!open)
			fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" "
			    "points=\"", route_color[r]);
		fprintf(f, "%.1f,%.1f ", px(p, (b + 0.5) * SOAK_BUCKET_S), py(p, y));
		open = 1;
	}
	if (open)
		fprintf(f, "\"/>\n");
	svg_legend(f, p, r, route_color[r], route_name[r]);
	(void)s;
}

int
soak_write_svg(struct soak *s, const char *path)
{
	double tmax = fmax(soak_now(s), 10), rmax = 1, dmax = 1, lmax = 1;
	int nb = (int)(tmax / SOAK_BUCKET_S) + 1;
	double *lat = malloc(sizeof(double) * (size_t)nb * ROUTE_COUNT);
	struct panel p[3];
	FILE *f;

	if (lat == NULL || (f = fopen(path, "w")) == NULL) {
		free(lat);
		return -1;
	}
	for (int r = 0; r < ROUTE_COUNT; r++)
		for (int b = 0; b < nb; b++) {
			long ok, bad, down;
			double v = soak_p99_ms(&s->calls[r], b * SOAK_BUCKET_S,
			    (b + 1) * SOAK_BUCKET_S, &ok, &bad, &down);

			lat[(size_t)r * (size_t)nb + (size_t)b] = v;
			lmax = fmax(lmax, v);
		}
	pthread_mutex_lock(&s->samples_mu);
	for (size_t i = 0; i < s->nsamples; i++) {
		rmax = fmax(rmax, s->samples[i].rss_kb / 1024.0 * 1.1);
		dmax = fmax(dmax, fmax(s->samples[i].db_bytes, s->samples[i].wal_bytes) / 1048576.0 *
		    1.1);
	}
	/* round tops: the four grid lines fall on whole numbers */
	rmax = ceil(rmax / 8) * 8;
	dmax = ceil(dmax / 4) * 4;
	p[0] = (struct panel){ SVG_TOP, tmax, rmax, "RSS of genbox serve (MB); dashed: SIGKILL",
		0 };
	p[1] = (struct panel){ SVG_TOP + SVG_PANEL_H + 50, tmax, dmax, "database file (MB)", 0 };
	p[2] = (struct panel){ SVG_TOP + 2 * (SVG_PANEL_H + 50), tmax,
		pow(10, ceil(log10(lmax * 1.01))), "p99 latency per 10 s (ms, log scale)", 1 };
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/"
	    "2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">\n"
	    "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%d\" y=\"20\" "
	    "font-size=\"14\" font-weight=\"bold\">genbox soak: %d s, SIGKILL every %d s, %d "
	    "creates/s</text>\n", SVG_W, SVG_TOP + 3 * (SVG_PANEL_H + 50), SVG_LEFT, s->seconds,
	    s->kill_every, s->rate);
	for (int k = 0; k < 3; k++)
		svg_frame(f, s, &p[k]);
	svg_samples(f, s, &p[0], 0, "#9467bd");
	svg_legend(f, &p[0], 0, "#9467bd", "VmRSS");
	svg_samples(f, s, &p[0], 3, "#17becf");
	svg_legend(f, &p[0], 1, "#17becf", "RssAnon");
	svg_samples(f, s, &p[1], 1, "#8c564b");
	svg_legend(f, &p[1], 0, "#8c564b", "db file");
	svg_samples(f, s, &p[1], 2, "#ff7f0e");
	svg_legend(f, &p[1], 1, "#ff7f0e", "WAL");
	pthread_mutex_unlock(&s->samples_mu);
	for (int r = 0; r < ROUTE_COUNT; r++)
		svg_latency(f, s, &p[2], lat, nb, r);
	fprintf(f, "</svg>\n");
	free(lat);
	return fclose(f) == 0 ? 0 : -1;
}
