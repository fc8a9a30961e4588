/* tools/cli/lineedit.h — a small line editor for keel-cli's interactive
 * mode: cursor keys, history (up/down, kept in a file), Tab completion of
 * the first word, and a hint shown after what was typed. On a terminal it
 * uses raw mode (termios, VT100 sequences); otherwise it reads plain lines. */
#ifndef KEEL_CLI_LINEEDIT_H
#define KEEL_CLI_LINEEDIT_H

#include <stddef.h>

struct lineedit_cb {
	void *ctx;
	/* A hint for the line so far ("key value [EX seconds]"), or NULL. */
	const char *(*hint)(void *ctx, const char *line);
	/* The completion of a first word that starts with prefix, the n-th of
	 * them (n = 0, 1, ...: Tab again cycles), or NULL when there are no
	 * more. */
	const char *(*complete)(void *ctx, const char *prefix, int n);
};

struct lineedit;

struct lineedit *lineedit_new(const struct lineedit_cb *cb, const char *history_path);
/* Saves the history and frees. */
void lineedit_free(struct lineedit *le);
/* Reads one line (without its newline; the caller frees it), or NULL at
 * the end of input (Ctrl-D on an empty line, Ctrl-C). */
char *lineedit_read(struct lineedit *le, const char *prompt);
/* Remembers a line for up/down and for the history file. */
void lineedit_history_add(struct lineedit *le, const char *line);

#endif
