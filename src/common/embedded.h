/* Files compiled into the binary by cmake/embed.cmake: SQL migrations (sql/...) and web assets. */
#ifndef P2N_COMMON_EMBEDDED_H
#define P2N_COMMON_EMBEDDED_H

#include <stddef.h>

typedef struct P2nEmbeddedFile {
    const char *name;          /* "sql/001_init.sql", "web/index.html" */
    const unsigned char *data; /* NUL-terminated */
    size_t size;               /* without the NUL */
} P2nEmbeddedFile;

/* Terminated by an entry whose name is NULL. */
extern const P2nEmbeddedFile p2n_embedded_files[];

/* Finds an embedded file by name, or NULL. */
const P2nEmbeddedFile *p2n_embedded_find(const char *name);

#endif
