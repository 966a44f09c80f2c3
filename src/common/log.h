/*
 * Logging: one line per event on stderr, with its level, as logfmt (default) or JSON.
 *   p2n_log(P2N_LOG_INFO, "batch done", "batch=%lld synced=%d", id, n);
 * The first string is the event's message; the optional second is extra logfmt fields.
 * Secrets registered with p2n_log_add_secret() are replaced by "***" in every line, as a last
 * line of defence: code should not log secrets in the first place.
 */
#ifndef P2N_COMMON_LOG_H
#define P2N_COMMON_LOG_H

#include <stdbool.h>

typedef enum P2nLogLevel {
    P2N_LOG_DEBUG = 0,
    P2N_LOG_INFO = 1,
    P2N_LOG_WARN = 2,
    P2N_LOG_ERROR = 3,
    P2N_LOG_OFF = 4
} P2nLogLevel;

typedef enum P2nLogFormat { P2N_LOG_LOGFMT = 0, P2N_LOG_JSON = 1 } P2nLogFormat;

void p2n_log_set_level(P2nLogLevel level);
void p2n_log_set_format(P2nLogFormat fmt);
P2nLogLevel p2n_log_get_level(void);
bool p2n_log_enabled(P2nLogLevel level);
/* Parses "debug|info|warn|error|off" or "logfmt|json"; returns -1 when unknown. */
int p2n_log_parse_level(const char *s);
int p2n_log_parse_format(const char *s);
/* Registers a secret (copied) to be masked in every log line. Short strings (< 4) are ignored. */
void p2n_log_add_secret(const char *secret);
void p2n_log_clear_secrets(void);
/* Masks registered secrets in s, in place (replacing with '*'), then its credentials
   (p2n_log_mask_credentials); used for any text shown to users. s may get shorter. */
void p2n_log_redact(char *s);
/* Masks credentials in URLs and connection strings, in place: the password of
   scheme://user:password@host and the value of password=... (a libpq keyword, a URL's
   ?password=, PGPASSWORD=...), quoted or not, become "***". s may get shorter, never longer.
   Every log line and every message p2n_log_redact() cleans goes through it. */
void p2n_log_mask_credentials(char *s);

void p2n_log(P2nLogLevel level, const char *msg, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The format set by p2n_log_set_format (logfmt by default). */
P2nLogFormat p2n_log_get_format(void);

/* A libpq notice processor (PQsetNoticeProcessor(conn, p2n_log_pg_notice, NULL)): a server's
   NOTICE/WARNING becomes a log line ("postgresql notice", level info, warn for WARNING) in the
   chosen format instead of libpq's raw line on stderr. */
void p2n_log_pg_notice(void *arg, const char *message);

#define P2N_DEBUG(msg, ...) do { if (p2n_log_enabled(P2N_LOG_DEBUG)) p2n_log(P2N_LOG_DEBUG, msg, __VA_ARGS__); } while (0)
#define P2N_INFO(msg, ...) p2n_log(P2N_LOG_INFO, msg, __VA_ARGS__)
#define P2N_WARN(msg, ...) p2n_log(P2N_LOG_WARN, msg, __VA_ARGS__)
#define P2N_ERROR(msg, ...) p2n_log(P2N_LOG_ERROR, msg, __VA_ARGS__)

#endif
