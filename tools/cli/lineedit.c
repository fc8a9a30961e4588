/* tools/cli/lineedit.c — the line editor of lineedit.h. The line is
 * redrawn whole after every key: carriage return, prompt, text, the hint
 * dimmed, erase to the end of the line, then the cursor moved back to its
 * column. Keys: printable characters, Backspace, Delete, Left/Right,
 * Home/End (and Ctrl-A/Ctrl-E), Up/Down (history), Ctrl-K, Ctrl-U, Ctrl-W,
 * Ctrl-L, Tab, Enter; Ctrl-C and Ctrl-D on an empty line end input. */
#include "lineedit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define HISTORY_MAX 1000
#define LINE_MAX_   8192

struct lineedit {
	struct lineedit_cb cb;
	char *path;
	char **hist;
	int n_hist;
	/* the line being edited */
	char buf[LINE_MAX_];
	size_t len, pos;
	const char *prompt;
	/* Tab cycling */
	char tab_prefix[LINE_MAX_];
	int tab_n;
	int tab_active;
};

struct lineedit *lineedit_new(const struct lineedit_cb *cb, const char *history_path)
{
	struct lineedit *le = calloc(1, sizeof *le);
	if (!le)
		return NULL;
	if (cb)
		le->cb = *cb;
	if (history_path) {
		le->path = strdup(history_path);
		FILE *f = fopen(history_path, "r");
		char line[LINE_MAX_];
		while (f && fgets(line, sizeof line, f)) {
			line[strcspn(line, "\r\n")] = 0;
			if (line[0])
				lineedit_history_add(le, line);
		}
		if (f)
			fclose(f);
	}
	return le;
}

void lineedit_free(struct lineedit *le)
{
	if (!le)
		return;
	FILE *f = le->path ? fopen(le->path, "w") : NULL;
	for (int i = 0; i < le->n_hist; i++) {
		if (f)
			fprintf(f, "%s\n", le->hist[i]);
		free(le->hist[i]);
	}
	if (f)
		fclose(f);
	free(le->hist);
	free(le->path);
	free(le);
}

void lineedit_history_add(struct lineedit *le, const char *line)
{
	if (!line[0] || strchr(line, '\n') ||
	    (le->n_hist && !strcmp(le->hist[le->n_hist - 1], line)))
		return;
	if (le->n_hist == HISTORY_MAX) {
		free(le->hist[0]);
		memmove(le->hist, le->hist + 1, (HISTORY_MAX - 1) * sizeof *le->hist);
		le->n_hist--;
	}
	char **h = realloc(le->hist, (size_t)(le->n_hist + 1) * sizeof *h);
	if (!h)
		return;
	le->hist = h;
	le->hist[le->n_hist++] = strdup(line);
}

/* ---- terminal ----------------------------------------------------------- */

static struct termios saved;

static int raw_on(void)
{
	if (tcgetattr(STDIN_FILENO, &saved) < 0)
		return -1;
	struct termios t = saved;
	t.c_iflag &= ~(unsigned)(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
	t.c_oflag &= ~(unsigned)OPOST;
	t.c_cflag |= CS8;
	t.c_lflag &= ~(unsigned)(ECHO | ICANON | IEXTEN | ISIG);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	return tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
}

static void raw_off(void)
{
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
}

static void out(const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(STDOUT_FILENO, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void refresh(struct lineedit *le)
{
	char b[3 * LINE_MAX_];
	size_t n = 0;
	n += (size_t)snprintf(b + n, sizeof b - n, "\r%s%.*s", le->prompt, (int)le->len, le->buf);
	le->buf[le->len] = 0;
	const char *hint = le->cb.hint ? le->cb.hint(le->cb.ctx, le->buf) : NULL;
	if (hint && le->pos == le->len && n < sizeof b - 64)
		n += (size_t)snprintf(b + n, sizeof b - n, "\x1b[2m%s\x1b[0m", hint);
	if (n < sizeof b - 32)
		n += (size_t)snprintf(b + n, sizeof b - n, "\x1b[0K\r");
	size_t col = strlen(le->prompt) + le->pos;
	if (col && n < sizeof b - 32)
		n += (size_t)snprintf(b + n, sizeof b - n, "\x1b[%zuC", col);
	out(b, n < sizeof b ? n : sizeof b - 1);
}

/* ---- editing ------------------------------------------------------------ */

static void set_line(struct lineedit *le, const char *s)
{
	size_t n = strlen(s);
	if (n >= LINE_MAX_)
		n = LINE_MAX_ - 1;
	memcpy(le->buf, s, n);
	le->len = le->pos = n;
}

static void insert(struct lineedit *le, char c)
{
	if (le->len + 1 >= LINE_MAX_)
		return;
	memmove(le->buf + le->pos + 1, le->buf + le->pos, le->len - le->pos);
	le->buf[le->pos++] = c;
	le->len++;
}

static void delete_at(struct lineedit *le, size_t at, size_t n)
{
	memmove(le->buf + at, le->buf + at + n, le->len - at - n);
	le->len -= n;
	le->pos = at;
}

/* Completes the first word; Tab again gives the next candidate. */
static void complete(struct lineedit *le)
{
	if (!le->cb.complete || memchr(le->buf, ' ', le->len))
		return;
	if (!le->tab_active) {
		memcpy(le->tab_prefix, le->buf, le->len);
		le->tab_prefix[le->len] = 0;
		le->tab_n = 0;
		le->tab_active = 1;
	}
	const char *c = le->cb.complete(le->cb.ctx, le->tab_prefix, le->tab_n++);
	if (!c) { /* wrapped around: back to what was typed */
		le->tab_n = 0;
		c = le->tab_prefix;
	}
	set_line(le, c);
}

/* An escape sequence: arrows, Home, End, Delete. */
static void escape(struct lineedit *le, int *hist_at, char *typed)
{
	char seq[3];
	if (read(STDIN_FILENO, seq, 1) != 1 || read(STDIN_FILENO, seq + 1, 1) != 1)
		return;
	if (seq[0] != '[' && seq[0] != 'O')
		return;
	if (seq[1] >= '0' && seq[1] <= '9') {
		if (read(STDIN_FILENO, seq + 2, 1) == 1 && seq[1] == '3' && seq[2] == '~' &&
		    le->pos < le->len)
			delete_at(le, le->pos, 1);
		return;
	}
	if (seq[1] == 'D' && le->pos)
		le->pos--;
	else if (seq[1] == 'C' && le->pos < le->len)
		le->pos++;
	else if (seq[1] == 'H')
		le->pos = 0;
	else if (seq[1] == 'F')
		le->pos = le->len;
	else if ((seq[1] == 'A' && *hist_at > 0) || (seq[1] == 'B' && *hist_at < le->n_hist)) {
		if (*hist_at == le->n_hist) { /* keep what was being typed */
			memcpy(typed, le->buf, le->len);
			typed[le->len] = 0;
		}
		*hist_at += seq[1] == 'A' ? -1 : 1;
		set_line(le, *hist_at == le->n_hist ? typed : le->hist[*hist_at]);
	}
}

static char *edit(struct lineedit *le)
{
	int hist_at = le->n_hist; /* n_hist: the line being typed */
	char typed[LINE_MAX_] = "";
	le->len = le->pos = 0;
	refresh(le);
	for (;;) {
		char c;
		ssize_t r = read(STDIN_FILENO, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return NULL;
		if (c != '\t')
			le->tab_active = 0;
		switch (c) {
		case '\r':
		case '\n':
			le->buf[le->len] = 0;
			le->pos = le->len;
			{ /* redraw without the hint */
				const char *(*h)(void *, const char *) = le->cb.hint;
				le->cb.hint = NULL;
				refresh(le);
				le->cb.hint = h;
			}
			out("\r\n", 2);
			return strdup(le->buf);
		case 3: /* Ctrl-C */
			out("^C\r\n", 4);
			return NULL;
		case 4: /* Ctrl-D */
			if (le->len == 0) {
				out("\r\n", 2);
				return NULL;
			}
			if (le->pos < le->len)
				delete_at(le, le->pos, 1);
			break;
		case 127:
		case 8:
			if (le->pos)
				delete_at(le, le->pos - 1, 1);
			break;
		case 1:
			le->pos = 0;
			break;
		case 5:
			le->pos = le->len;
			break;
		case 11:
			le->len = le->pos;
			break;
		case 21:
			delete_at(le, 0, le->pos);
			break;
		case 23: { /* Ctrl-W: the word before the cursor */
			size_t p = le->pos;
			while (p && le->buf[p - 1] == ' ')
				p--;
			while (p && le->buf[p - 1] != ' ')
				p--;
			delete_at(le, p, le->pos - p);
			break;
		}
		case 12:
			out("\x1b[H\x1b[2J", 7);
			break;
		case '\t':
			complete(le);
			break;
		case 27:
			escape(le, &hist_at, typed);
			break;
		default:
			if ((unsigned char)c >= 32)
				insert(le, c);
			break;
		}
		refresh(le);
	}
}

char *lineedit_read(struct lineedit *le, const char *prompt)
{
	if (!isatty(STDIN_FILENO)) {
		char line[LINE_MAX_];
		if (!fgets(line, sizeof line, stdin))
			return NULL;
		line[strcspn(line, "\r\n")] = 0;
		return strdup(line);
	}
	le->prompt = prompt;
	if (raw_on() < 0)
		return NULL;
	char *line = edit(le);
	raw_off();
	return line;
}
