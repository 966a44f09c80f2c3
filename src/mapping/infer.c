/*
 * pg2neo infer: the catalog in, a commented mapping (YAML text) out. infer.h states the rules;
 * docs/mapping.md ("pg2neo infer") is the reference. No I/O: the CLI (cmd_infer.c) loads the
 * catalog and prints the text, the unit tests feed hand-built catalogs.
 *
 * Words used here: a "selected" table is one the options ask for; an "entity" is a selected table
 * that is mapped (a node or a join table); a "skipped" table is a selected one that is not, with
 * its reason written as a comment where it would have been.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mapping/infer.h"
#include "mapping/mapping.h"

/* ---- words ---- */

typedef struct Word {
    const char *p;
    size_t n;
} Word;

static bool is_word_byte(unsigned char c)
{
    return isalnum(c) || c >= 0x80;
}

/* Splits s into words at bytes that are not letters or digits and where a lower-case letter (or
   digit) is followed by an upper-case one. Returns the count; w has room for strlen(s) + 1. */
static size_t split_words(const char *s, Word *w)
{
    size_t n = 0;
    const char *p = s;
    while (*p) {
        while (*p && !is_word_byte((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        p++;
        while (*p && is_word_byte((unsigned char)*p) &&
               !(isupper((unsigned char)*p) && (islower((unsigned char)p[-1]) || isdigit((unsigned char)p[-1]))))
            p++;
        w[n].p = start;
        w[n].n = (size_t)(p - start);
        n++;
    }
    return n;
}

static Word *words_of(const char *s, size_t *n)
{
    Word *w = calloc(strlen(s) + 1, sizeof(*w));
    *n = w ? split_words(s, w) : 0;
    return w;
}

static bool all_upper(const char *p, size_t n)
{
    bool letter = false;
    for (size_t i = 0; i < n; i++) {
        if (islower((unsigned char)p[i]))
            return false;
        letter = letter || isupper((unsigned char)p[i]);
    }
    return letter;
}

/* plural -> singular, matched on the lower-cased word */
static const char *const IRREGULAR[][2] = {
    {"people", "person"},     {"men", "man"},           {"women", "woman"},       {"children", "child"},
    {"mice", "mouse"},        {"geese", "goose"},       {"feet", "foot"},         {"teeth", "tooth"},
    {"oxen", "ox"},           {"criteria", "criterion"}, {"phenomena", "phenomenon"}, {"indices", "index"},
    {"matrices", "matrix"},   {"vertices", "vertex"},   {"appendices", "appendix"}, {"analyses", "analysis"},
    {"crises", "crisis"},     {"theses", "thesis"},     {"diagnoses", "diagnosis"}, {"hypotheses", "hypothesis"},
    {"synopses", "synopsis"}, {"axes", "axis"},         {"aliases", "alias"},     {"biases", "bias"},
    {"canvases", "canvas"},   {"gases", "gas"},         {"atlases", "atlas"},     {"lenses", "lens"},
    {"quizzes", "quiz"},      {"lives", "life"},        {"wives", "wife"},        {"knives", "knife"},
    {"leaves", "leaf"},       {"halves", "half"},       {"shelves", "shelf"},     {"wolves", "wolf"},
    {"thieves", "thief"},     {"selves", "self"},       {"calves", "calf"},       {"heroes", "hero"},
    {"potatoes", "potato"},   {"tomatoes", "tomato"},   {"echoes", "echo"},       {"vetoes", "veto"},
    {"movies", "movie"},      {"cookies", "cookie"},    {"zombies", "zombie"},    {"rookies", "rookie"},
    {"calories", "calorie"},  {"pies", "pie"},          {"ties", "tie"},          {"lies", "lie"},
    {"caches", "cache"},      {"niches", "niche"},      {"menus", "menu"},        {"gurus", "guru"},
    {"emus", "emu"},          {"haikus", "haiku"},      {"taxis", "taxi"},        {"excuses", "excuse"},
    {"fuses", "fuse"},        {"abuses", "abuse"},      {"uses", "use"},          {"curricula", "curriculum"},
    {"stimuli", "stimulus"},  {"cacti", "cactus"},      {"fungi", "fungus"},      {"nuclei", "nucleus"},
    {"radii", "radius"},      {"alumni", "alumnus"},    {"syllabi", "syllabus"},  {"bacteria", "bacterium"},
};

/* words whose plural is the same word (or that have none) */
static const char *const UNCHANGED[] = {
    "data", "metadata", "information", "equipment", "news", "series", "species", "sheep", "fish",
    "deer", "staff", "feedback", "software", "hardware", "media", "music", "money", "rice",
    "furniture", "advice", "luggage", "analytics", "mathematics", "physics", "economics", "politics",
    "ethics", "chassis", "alias", "bias", "canvas", "atlas", "gas", "lens", "aircraft", "offspring",
    "moose", "swine", "police", "corps", "chaos", "kudos", "ethos", "cosmos", "sys",
};

static bool word_is(const char *p, size_t n, const char *w)
{
    if (strlen(w) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)p[i]) != w[i])
            return false;
    return true;
}

static bool ends_with(const char *p, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    if (k > n)
        return false;
    for (size_t i = 0; i < k; i++)
        if (tolower((unsigned char)p[n - k + i]) != suffix[i])
            return false;
    return true;
}

/* Appends w in the case of the word it replaces: upper when that was all upper, a capital first
   letter when it had one. */
static void append_cased(P2nBuf *out, const char *w, const char *like, size_t like_n)
{
    bool up = all_upper(like, like_n) && like_n > 1;
    for (size_t i = 0; w[i]; i++) {
        char c = w[i];
        if (up || (i == 0 && isupper((unsigned char)like[0])))
            c = (char)toupper((unsigned char)c);
        p2n_buf_append_byte(out, (uint8_t)c);
    }
}

static void singular_n(const char *p, size_t n, P2nBuf *out)
{
    for (size_t i = 0; i < sizeof(IRREGULAR) / sizeof(IRREGULAR[0]); i++) {
        if (word_is(p, n, IRREGULAR[i][0])) {
            append_cased(out, IRREGULAR[i][1], p, n);
            return;
        }
    }
    for (size_t i = 0; i < sizeof(UNCHANGED) / sizeof(UNCHANGED[0]); i++) {
        if (word_is(p, n, UNCHANGED[i])) {
            p2n_buf_append(out, p, n);
            return;
        }
    }
    size_t strip = 0;
    const char *add = "";
    if (n <= 2) {
        strip = 0;
    } else if (n > 4 && ends_with(p, n, "ies")) {
        strip = 3;
        add = "y";
    } else if (ends_with(p, n, "sses") || ends_with(p, n, "xes") || ends_with(p, n, "zzes") ||
               ends_with(p, n, "ches") || ends_with(p, n, "shes")) {
        strip = 2;
    } else if (n > 4 && ends_with(p, n, "uses")) {
        /* houses, causes: drop s; statuses, buses, campuses: drop es */
        strip = strchr("aeiou", tolower((unsigned char)p[n - 5])) ? 1 : 2;
    } else if (ends_with(p, n, "ss") || ends_with(p, n, "us") || ends_with(p, n, "is")) {
        strip = 0;
    } else if (ends_with(p, n, "s")) {
        strip = 1;
    }
    p2n_buf_append(out, p, n - strip);
    if (add[0])
        append_cased(out, add, p + n - 1, 1);
}

void mapping_infer_singular(const char *word, P2nBuf *out)
{
    singular_n(word, strlen(word), out);
}

/* Appends one word of a label: a capital first letter; a word in capitals (USERS) is lower-cased
   first. */
static void append_capitalised(P2nBuf *out, const char *p, size_t n)
{
    bool lower = all_upper(p, n) && n > 1;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (i == 0)
            c = (char)toupper((unsigned char)c);
        else if (lower)
            c = (char)tolower((unsigned char)c);
        p2n_buf_append_byte(out, (uint8_t)c);
    }
}

void mapping_infer_label(const char *table, P2nBuf *out)
{
    size_t n;
    Word *w = words_of(table, &n);
    if (w == NULL || n == 0) {
        p2n_buf_append_str(out, table);
        free(w);
        return;
    }
    for (size_t i = 0; i + 1 < n; i++)
        append_capitalised(out, w[i].p, w[i].n);
    P2nBuf last;
    p2n_buf_init(&last);
    singular_n(w[n - 1].p, w[n - 1].n, &last);
    if (last.len == 0) /* nothing left of the word: keep it */
        append_capitalised(out, w[n - 1].p, w[n - 1].n);
    else
        append_capitalised(out, (const char *)last.data, last.len);
    p2n_buf_free(&last);
    free(w);
}

static void upper_snake_words(const Word *w, size_t n, P2nBuf *out)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            p2n_buf_append_byte(out, '_');
        for (size_t k = 0; k < w[i].n; k++)
            p2n_buf_append_byte(out, (uint8_t)toupper((unsigned char)w[i].p[k]));
    }
}

void mapping_infer_upper_snake(const char *name, P2nBuf *out)
{
    size_t n;
    Word *w = words_of(name, &n);
    if (w == NULL || n == 0) {
        for (const char *p = name; *p; p++)
            p2n_buf_append_byte(out, (uint8_t)toupper((unsigned char)*p));
    } else {
        upper_snake_words(w, n, out);
    }
    free(w);
}

/* The table's singular words in upper snake case (customer_demographics -> CUSTOMER_DEMOGRAPHIC). */
static void table_type(const char *table, P2nBuf *out)
{
    P2nBuf l;
    p2n_buf_init(&l);
    mapping_infer_label(table, &l);
    p2n_buf_append(&l, "", 0);
    mapping_infer_upper_snake(l.data ? (const char *)l.data : table, out);
    p2n_buf_free(&l);
}

/* Length of name without a key suffix from the list (matched ignoring case, after '_'), or
   without a camel-case "Id"/"Ids"; n when there is none. */
static size_t strip_key_suffix(const char *name, const char *const *suffixes, size_t nsuf, const char *camel)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < nsuf; i++) {
        size_t k = strlen(suffixes[i]);
        if (n >= k && ends_with(name, n, suffixes[i]))
            return n - k;
    }
    size_t k = strlen(camel);
    if (n > k && name[n - k] == 'I' && (name[n - k + 1] == 'd' || name[n - k + 1] == 'D') &&
        (islower((unsigned char)name[n - k - 1]) || isdigit((unsigned char)name[n - k - 1]))) {
        bool rest = true;
        for (size_t i = 2; i < k; i++)
            rest = rest && tolower((unsigned char)name[n - k + i]) == camel[i];
        if (rest)
            return n - k;
    }
    return n;
}

static const char *const FK_SUFFIXES[] = {"_id", "_uuid", "_key", "_code", "_fk", "_ref"};
static const char *const ARRAY_SUFFIXES[] = {"_ids", "_uuids", "_keys", "_codes", "_refs"};

/* True when stripping leaves at least one letter or digit. */
static bool has_word(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (is_word_byte((unsigned char)p[i]))
            return true;
    return false;
}

void mapping_infer_fk_type(const char *column, const char *ref_table, P2nBuf *out)
{
    size_t n = strip_key_suffix(column, FK_SUFFIXES, sizeof(FK_SUFFIXES) / sizeof(FK_SUFFIXES[0]), "Id");
    if (!has_word(column, n) || word_is(column, strlen(column), "id")) {
        table_type(ref_table, out);
        return;
    }
    char *stem = strndup(column, n);
    if (stem == NULL) {
        out->failed = true;
        return;
    }
    mapping_infer_upper_snake(stem, out);
    free(stem);
}

void mapping_infer_array_type(const char *column, const char *ref_table, P2nBuf *out)
{
    size_t n = strip_key_suffix(column, ARRAY_SUFFIXES, sizeof(ARRAY_SUFFIXES) / sizeof(ARRAY_SUFFIXES[0]), "Ids");
    size_t len = strlen(column);
    if (word_is(column, len, "ids") || word_is(column, len, "uuids") || word_is(column, len, "keys")) {
        table_type(ref_table, out);
        return;
    }
    if (n < len) {
        if (!has_word(column, n)) {
            table_type(ref_table, out);
            return;
        }
        char *stem = strndup(column, n);
        if (stem == NULL) {
            out->failed = true;
            return;
        }
        mapping_infer_upper_snake(stem, out);
        free(stem);
        return;
    }
    size_t nw;
    Word *w = words_of(column, &nw);
    if (w == NULL || nw == 0) {
        free(w);
        table_type(ref_table, out);
        return;
    }
    upper_snake_words(w, nw - 1, out);
    if (nw > 1)
        p2n_buf_append_byte(out, '_');
    P2nBuf last;
    p2n_buf_init(&last);
    singular_n(w[nw - 1].p, w[nw - 1].n, &last);
    for (size_t i = 0; i < last.len; i++)
        p2n_buf_append_byte(out, (uint8_t)toupper(last.data[i]));
    p2n_buf_free(&last);
    free(w);
}

/* ---- YAML text ---- */

static const char *const YAML_WORDS[] = {"y", "yes", "n", "no", "true", "false", "on", "off", "null", "~"};

/* Decodes the UTF-8 sequence at s (len bytes valid per mapping_utf8_seq). */
static uint32_t utf8_cp(const unsigned char *s, size_t len)
{
    if (len == 1)
        return s[0];
    uint32_t cp = s[0] & (0x7Fu >> len);
    for (size_t i = 1; i < len; i++)
        cp = (cp << 6) | (s[i] & 0x3Fu);
    return cp;
}

/* Code points YAML does not take as they are inside a quoted scalar or a comment (not printable,
   or a line break that would be folded). */
static bool yaml_needs_escape(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF || cp == 0xFFFE ||
           cp == 0xFFFF;
}

/* Appends s escaped for a double-quoted scalar (quoted) or a comment (not quoted). */
static void yaml_escaped(P2nBuf *b, const char *s, bool quoted)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t avail = strlen(s);
    while (avail > 0) {
        size_t k = mapping_utf8_seq((const char *)p, avail);
        if (k == 0) {
            p2n_buf_printf(b, "\\x%02X", p[0]);
            p++;
            avail--;
            continue;
        }
        uint32_t cp = utf8_cp(p, k);
        if (cp == '\t')
            p2n_buf_append_str(b, "\\t");
        else if (cp == '\n')
            p2n_buf_append_str(b, "\\n");
        else if (cp == '\r')
            p2n_buf_append_str(b, "\\r");
        else if (cp < 0x20 || cp == 0x7F)
            p2n_buf_printf(b, "\\x%02X", (unsigned)cp);
        else if (yaml_needs_escape(cp))
            p2n_buf_printf(b, "\\u%04X", (unsigned)cp);
        else if (quoted && cp == '"')
            p2n_buf_append_str(b, "\\\"");
        else if (quoted && cp == '\\')
            p2n_buf_append_str(b, "\\\\");
        else if (quoted && cp == '$')
            p2n_buf_append_str(b, "$$");
        else
            p2n_buf_append(b, p, k);
        p += k;
        avail -= k;
    }
}

void mapping_infer_yaml(P2nBuf *b, const char *s)
{
    bool plain = s[0] != '\0' && (isalpha((unsigned char)s[0]) || s[0] == '_');
    for (const char *p = s; plain && *p; p++)
        plain = isalnum((unsigned char)*p) || *p == '_';
    for (size_t i = 0; plain && i < sizeof(YAML_WORDS) / sizeof(YAML_WORDS[0]); i++)
        plain = strcasecmp(s, YAML_WORDS[i]) != 0;
    if (plain) {
        p2n_buf_append_str(b, s);
        return;
    }
    p2n_buf_append_byte(b, '"');
    yaml_escaped(b, s, true);
    p2n_buf_append_byte(b, '"');
}

/* A name inside a comment: any byte made visible, nothing that ends the line. */
static void comment_text(P2nBuf *b, const char *s)
{
    yaml_escaped(b, s, false);
}

/* ---- the model ---- */

typedef enum Role { ROLE_SKIP = 0, ROLE_NODE, ROLE_LINK } Role;

struct Ent;

typedef struct Rel {
    char *type;
    const char *column;
    struct Ent *target;
    char *note;      /* trailing comment */
    bool suggestion; /* written as a comment only (not confident enough) */
} Rel;

typedef struct Ent {
    const MappingCatTable *t;
    Role role;
    char *why;          /* ROLE_SKIP: the reason */
    char *name;         /* entity name and label (with the prefix) */
    char *base;         /* the name without the prefix */
    const char **key;   /* the key's column names (the catalog's strings) */
    size_t nkey;
    char *key_note;     /* how the key was chosen, when it is not the primary key */
    bool referenced;    /* a selected table has a foreign key to it */
    /* ROLE_LINK */
    size_t from_fk, to_fk;
    char *link_type;
    /* ROLE_NODE */
    Rel *rels;
    size_t nrels;
    char **notes;       /* comments: what could not be mapped, and why */
    size_t nnotes;
} Ent;

typedef struct Inf {
    const MappingCatalog *cat;
    const MappingInferOptions *o;
    Ent *ents;
    size_t n;
    bool oom;
} Inf;

static char *xprintf(Inf *inf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *xprintf(Inf *inf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) {
        s = NULL;
        inf->oom = true;
    }
    va_end(ap);
    return s;
}

static char *buf_str(Inf *inf, P2nBuf *b)
{
    p2n_buf_append(b, "", 0);
    char *s = p2n_buf_steal(b);
    if (s == NULL)
        inf->oom = true;
    return s;
}

static void add_note(Inf *inf, Ent *e, char *note)
{
    if (note == NULL) {
        inf->oom = true;
        return;
    }
    char **nn = realloc(e->notes, (e->nnotes + 1) * sizeof(*nn));
    if (nn == NULL) {
        free(note);
        inf->oom = true;
        return;
    }
    e->notes = nn;
    e->notes[e->nnotes++] = note;
}

static const MappingCatColumn *col_of(const MappingCatTable *t, const char *name)
{
    for (size_t i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0)
            return &t->cols[i];
    return NULL;
}

static bool utf8_ok(const char *s)
{
    return mapping_utf8_invalid_at(s, strlen(s)) == SIZE_MAX;
}

static Ent *ent_find(Inf *inf, const char *schema, const char *table)
{
    for (size_t i = 0; i < inf->n; i++)
        if (strcmp(inf->ents[i].t->schema, schema) == 0 && strcmp(inf->ents[i].t->name, table) == 0)
            return &inf->ents[i];
    return NULL;
}

static bool in_list(const char *const *l, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i], s) == 0)
            return true;
    return false;
}

static size_t list_len(char *const *l)
{
    size_t n = 0;
    while (l[n])
        n++;
    return n;
}

/* "(a, b)" of a NULL-terminated column list, for messages. */
static char *cols_text(Inf *inf, char *const *cols)
{
    P2nBuf b;
    p2n_buf_init(&b);
    p2n_buf_append_byte(&b, '(');
    for (size_t i = 0; cols[i]; i++) {
        if (i > 0)
            p2n_buf_append_str(&b, ", ");
        comment_text(&b, cols[i]);
    }
    p2n_buf_append_byte(&b, ')');
    return buf_str(inf, &b);
}

/* Why the unique key u cannot be an entity key, or NULL when it can. */
static char *unique_problem(Inf *inf, const MappingCatTable *t, char *const *u)
{
    for (size_t i = 0; u[i]; i++) {
        const MappingCatColumn *c = col_of(t, u[i]);
        if (c == NULL)
            return xprintf(inf, "column %s is missing from the catalog", u[i]);
        P2nBuf nm;
        p2n_buf_init(&nm);
        comment_text(&nm, c->name);
        char *name = buf_str(inf, &nm);
        char *why = NULL;
        if (!utf8_ok(c->name))
            why = xprintf(inf, "the name of column %s is not valid UTF-8", name ? name : "?");
        else if (!mapping_catalog_key_type_ok(c))
            why = xprintf(inf, "%s has type %s, which pg2neo does not take as a key", name ? name : "?", c->sql_type);
        else if (!c->not_null)
            why = xprintf(inf, "%s may be NULL", name ? name : "?");
        free(name);
        if (why)
            return why;
    }
    return NULL;
}

static char *joined(char *const *u)
{
    size_t len = 1;
    for (size_t i = 0; u[i]; i++)
        len += strlen(u[i]) + 1;
    char *s = malloc(len);
    if (s == NULL)
        return NULL;
    s[0] = '\0';
    for (size_t i = 0; u[i]; i++) {
        strcat(s, u[i]);
        strcat(s, "\x01");
    }
    return s;
}

/* Chooses the key of a table (or the reason it has none). */
static void choose_key(Inf *inf, Ent *e)
{
    const MappingCatTable *t = e->t;
    char *pk_why = NULL;
    int chosen = -1;
    if (t->pkey >= 0) {
        pk_why = unique_problem(inf, t, t->uniques[t->pkey]);
        if (pk_why == NULL)
            chosen = t->pkey;
    }
    char *first_why = NULL;
    if (chosen < 0) {
        char *best_j = NULL;
        size_t best_n = 0;
        for (size_t u = 0; u < t->nuniques; u++) {
            if ((int)u == t->pkey)
                continue;
            char *why = unique_problem(inf, t, t->uniques[u]);
            if (why) {
                if (first_why == NULL)
                    first_why = why;
                else
                    free(why);
                continue;
            }
            size_t n = list_len(t->uniques[u]);
            char *j = joined(t->uniques[u]);
            if (j == NULL) {
                inf->oom = true;
                continue;
            }
            if (chosen < 0 || n < best_n || (n == best_n && strcmp(j, best_j) < 0)) {
                free(best_j);
                best_j = j;
                best_n = n;
                chosen = (int)u;
            } else {
                free(j);
            }
        }
        free(best_j);
    }
    if (chosen >= 0) {
        char *const *u = t->uniques[chosen];
        e->nkey = list_len(u);
        e->key = calloc(e->nkey, sizeof(*e->key));
        if (e->key == NULL) {
            inf->oom = true;
            e->nkey = 0;
        }
        for (size_t i = 0; i < e->nkey; i++)
            e->key[i] = u[i];
        if (chosen != t->pkey) {
            char *ct = cols_text(inf, u);
            if (t->pkey >= 0) {
                char *pk = cols_text(inf, t->uniques[t->pkey]);
                e->key_note = xprintf(inf, "the primary key %s cannot be the key (%s): keyed by the unique key %s",
                                      pk ? pk : "", pk_why ? pk_why : "", ct ? ct : "");
                free(pk);
            } else {
                e->key_note = xprintf(inf, "no primary key: keyed by the unique NOT NULL key %s", ct ? ct : "");
            }
            free(ct);
        }
    } else if (t->pkey >= 0) {
        char *pk = cols_text(inf, t->uniques[t->pkey]);
        e->why = xprintf(inf, "its primary key %s cannot be a pg2neo key: %s", pk ? pk : "", pk_why ? pk_why : "");
        free(pk);
    } else if (first_why) {
        e->why = xprintf(inf, "no primary key, and no unique key pg2neo can use (%s)", first_why);
    } else {
        e->why = xprintf(inf, "no primary key or unique key to identify its rows");
    }
    free(pk_why);
    free(first_why);
}

/* The single key column of a node entity, or NULL. */
static const MappingCatColumn *single_key(const Ent *e)
{
    if (e == NULL || e->role != ROLE_NODE || e->nkey != 1)
        return NULL;
    return col_of(e->t, e->key[0]);
}

/* Why the single-column foreign key f cannot be a reference to a node, or NULL; *target gets
   the target when it is selected. */
static char *fk_problem(Inf *inf, const Ent *e, const MappingCatFkey *f, Ent **target)
{
    Ent *t = ent_find(inf, f->ref_schema, f->ref_table);
    *target = t;
    if (t == NULL)
        return xprintf(inf, "%s.%s is not selected", f->ref_schema, f->ref_table);
    if (t->role == ROLE_SKIP)
        return xprintf(inf, "%s.%s is not mapped (see there)", f->ref_schema, f->ref_table);
    if (t->role != ROLE_NODE)
        return xprintf(inf, "%s.%s is a join table", f->ref_schema, f->ref_table);
    if (t->nkey != 1)
        return xprintf(inf, "%s has a composite key; a relationship needs a single-column key", t->name);
    if (strcmp(t->key[0], f->ref_cols[0]) != 0)
        return xprintf(inf, "it references %s.%s (%s), not its key (%s)", f->ref_schema, f->ref_table, f->ref_cols[0],
                       t->key[0]);
    const MappingCatColumn *c = col_of(e->t, f->cols[0]), *k = single_key(t);
    if (c == NULL || k == NULL)
        return xprintf(inf, "a column is missing from the catalog");
    if (!utf8_ok(c->name))
        return xprintf(inf, "the column name is not valid UTF-8");
    if (!mapping_catalog_ref_type_ok(c->type, k->type) || c->is_array)
        return xprintf(inf, "the column has type %s but the key of %s has type %s", c->sql_type, t->name, k->sql_type);
    return NULL;
}

/* Decides whether a keyed table is a join table. */
static void try_link(Inf *inf, Ent *e)
{
    const MappingCatTable *t = e->t;
    if (e->role != ROLE_NODE || e->nkey != 2 || t->nfkeys < 2)
        return;
    int fk_of[2] = {-1, -1};
    bool other = false;
    for (size_t i = 0; i < t->nfkeys; i++) {
        const MappingCatFkey *f = &t->fkeys[i];
        int which = -1;
        if (list_len(f->cols) == 1)
            for (int k = 0; k < 2; k++)
                if (strcmp(f->cols[0], e->key[k]) == 0)
                    which = k;
        if (which < 0 || fk_of[which] >= 0) {
            other = true;
            continue;
        }
        fk_of[which] = (int)i;
    }
    if (fk_of[0] < 0 || fk_of[1] < 0)
        return;
    char *why = NULL;
    if (other)
        why = xprintf(inf, "keyed by two foreign keys but it has others: a node, since a relationship cannot have "
                           "relationships");
    else if (e->referenced)
        why = xprintf(inf, "keyed by two foreign keys but referenced by a foreign key: a node");
    for (int k = 0; k < 2 && why == NULL; k++) {
        Ent *target;
        char *p = fk_problem(inf, e, &t->fkeys[fk_of[k]], &target);
        if (p) {
            why = xprintf(inf, "keyed by two foreign keys, but %s: a node", p);
            free(p);
        }
    }
    if (why) {
        add_note(inf, e, why);
        return;
    }
    e->role = ROLE_LINK;
    e->from_fk = (size_t)fk_of[0];
    e->to_fk = (size_t)fk_of[1];
}

/* ---- names ---- */

static bool name_taken(Inf *inf, const char *base, const Ent *self)
{
    for (size_t i = 0; i < inf->n; i++)
        if (&inf->ents[i] != self && inf->ents[i].base && strcmp(inf->ents[i].base, base) == 0)
            return true;
    return false;
}

static void assign_name(Inf *inf, Ent *e)
{
    P2nBuf b;
    p2n_buf_init(&b);
    mapping_infer_label(e->t->name, &b);
    char *base = buf_str(inf, &b);
    if (base == NULL)
        return;
    if (name_taken(inf, base, e)) {
        /* the same name in another schema, or two tables with one singular (order, orders) */
        p2n_buf_init(&b);
        mapping_infer_label(e->t->schema, &b);
        p2n_buf_append_str(&b, base);
        char *alt = buf_str(inf, &b);
        for (int k = 2; alt && name_taken(inf, alt, e) && k < 1000; k++) {
            free(alt);
            alt = xprintf(inf, "%s%d", base, k);
        }
        free(base);
        base = alt;
        if (base == NULL)
            return;
    }
    e->base = base;
    const char *pre = inf->o->label_prefix ? inf->o->label_prefix : "";
    e->name = xprintf(inf, "%s%s", pre, base);
}

/* ---- relationships of a node ---- */

static void add_rel(Inf *inf, Ent *e, char *type, const char *column, Ent *target, char *note, bool suggestion)
{
    Rel *nr = realloc(e->rels, (e->nrels + 1) * sizeof(*nr));
    if (nr == NULL || type == NULL) {
        if (nr)
            e->rels = nr;
        free(type);
        free(note);
        inf->oom = true;
        return;
    }
    e->rels = nr;
    e->rels[e->nrels++] = (Rel){type, column, target, note, suggestion};
}

static bool rel_dup(const Ent *e, const char *type, const Ent *target)
{
    for (size_t i = 0; i < e->nrels; i++)
        if (!e->rels[i].suggestion && e->rels[i].target == target && strcmp(e->rels[i].type, type) == 0)
            return true;
    return false;
}

/* A type unique among the entity's relationships to target: type, else the whole column in upper
   snake case, else either with _2, _3... */
static char *unique_type(Inf *inf, const Ent *e, char *type, const char *column, const Ent *target)
{
    if (type == NULL || !rel_dup(e, type, target))
        return type;
    P2nBuf b;
    p2n_buf_init(&b);
    mapping_infer_upper_snake(column, &b);
    char *alt = buf_str(inf, &b);
    if (alt && !rel_dup(e, alt, target)) {
        free(type);
        return alt;
    }
    free(alt);
    for (int k = 2; k < 1000; k++) {
        char *s = xprintf(inf, "%s_%d", type, k);
        if (s == NULL || !rel_dup(e, s, target)) {
            free(type);
            return s;
        }
        free(s);
    }
    return type;
}

/* The table a column comment names after "references" ("references sponsors",
   "References public.sponsors(id)", quoted names too), resolved like an unqualified name in
   SQL would be, as far as the selection goes: the entity's own schema, then the selected ones. */
static bool comment_reference(Inf *inf, const Ent *e, const char *comment, Ent **target, char **named)
{
    *target = NULL;
    *named = NULL;
    const char *p = comment;
    const char *kw = "references";
    for (; *p; p++) {
        if (strncasecmp(p, kw, strlen(kw)) == 0 && (p == comment || !is_word_byte((unsigned char)p[-1])) &&
            !is_word_byte((unsigned char)p[strlen(kw)]))
            break;
    }
    if (!*p)
        return false;
    p += strlen(kw);
    while (*p == ' ' || *p == '\t' || *p == ':')
        p++;
    char part[2][256];
    int nparts = 0;
    while (nparts < 2) {
        size_t len = 0;
        if (*p == '"') {
            p++;
            while (*p && len < sizeof(part[0]) - 1) {
                if (*p == '"' && p[1] == '"') {
                    part[nparts][len++] = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    part[nparts][len++] = *p++;
                }
            }
        } else {
            while ((*p == '_' || *p == '$' || is_word_byte((unsigned char)*p)) && len < sizeof(part[0]) - 1)
                part[nparts][len++] = (char)tolower((unsigned char)*p++);
        }
        if (len == 0)
            break;
        part[nparts++][len] = '\0';
        if (*p != '.')
            break;
        p++;
    }
    if (nparts == 0)
        return false;
    if (nparts == 2) {
        *target = ent_find(inf, part[0], part[1]);
        *named = xprintf(inf, "%s.%s", part[0], part[1]);
        return true;
    }
    *named = xprintf(inf, "%s", part[0]);
    *target = ent_find(inf, e->t->schema, part[0]);
    for (size_t i = 0; *target == NULL && i < inf->o->nschemas; i++)
        *target = ent_find(inf, inf->o->schemas[i], part[0]);
    return true;
}

/* The lower-case singular snake form of a table name (film_actors -> film_actor), for matching
   column names. */
static char *singular_snake(Inf *inf, const char *table)
{
    P2nBuf b;
    p2n_buf_init(&b);
    table_type(table, &b);
    for (size_t i = 0; i < b.len; i++)
        b.data[i] = (uint8_t)tolower(b.data[i]);
    return buf_str(inf, &b);
}

static char *lower_snake(Inf *inf, const char *name)
{
    P2nBuf b;
    p2n_buf_init(&b);
    mapping_infer_upper_snake(name, &b);
    for (size_t i = 0; i < b.len; i++)
        b.data[i] = (uint8_t)tolower(b.data[i]);
    return buf_str(inf, &b);
}

/* Whether the node t can be the target of the array column c (element type = its key's type). */
static bool array_target_ok(const MappingCatColumn *c, const Ent *t)
{
    const MappingCatColumn *k = single_key(t);
    return k != NULL && mapping_catalog_ref_type_ok(c->type, k->type);
}

/* Finds a node whose name the array column's name shows. strong: <singular>_ids; weak: the
   column is the table's name, or ends with _<table> or _<singular>. Prefers the column's own
   schema. Returns NULL when none (or more than one in the best schema) fits. */
static Ent *array_name_target(Inf *inf, const Ent *e, const MappingCatColumn *c, bool *strong)
{
    char *col = lower_snake(inf, c->name);
    if (col == NULL)
        return NULL;
    size_t n = strip_key_suffix(c->name, ARRAY_SUFFIXES, sizeof(ARRAY_SUFFIXES) / sizeof(ARRAY_SUFFIXES[0]), "Ids");
    char *stem = NULL;
    if (n < strlen(c->name)) {
        char *raw = strndup(c->name, n);
        stem = raw ? lower_snake(inf, raw) : NULL;
        free(raw);
    }
    Ent *found[2] = {NULL, NULL};
    bool found_strong[2] = {false, false};
    int ambiguous[2] = {0, 0};
    for (size_t i = 0; i < inf->n; i++) {
        Ent *t = &inf->ents[i];
        if (t->role != ROLE_NODE || !array_target_ok(c, t))
            continue;
        char *sg = singular_snake(inf, t->t->name), *tn = lower_snake(inf, t->t->name);
        if (sg == NULL || tn == NULL) {
            free(sg);
            free(tn);
            continue;
        }
        bool st = stem && (strcmp(stem, sg) == 0 || strcmp(stem, tn) == 0);
        bool weak = false;
        size_t lc = strlen(col);
        const char *cands[2] = {tn, sg};
        for (int k = 0; k < 2 && !st && !weak; k++) {
            size_t lt = strlen(cands[k]);
            weak = strcmp(col, cands[k]) == 0 ||
                   (lc > lt + 1 && col[lc - lt - 1] == '_' && strcmp(col + lc - lt, cands[k]) == 0);
        }
        free(sg);
        free(tn);
        if (!st && !weak)
            continue;
        int slot = strcmp(t->t->schema, e->t->schema) == 0 ? 0 : 1;
        if (found[slot] && found_strong[slot] == st) {
            ambiguous[slot]++;
        } else if (found[slot] == NULL || (st && !found_strong[slot])) {
            found[slot] = t;
            found_strong[slot] = st;
            ambiguous[slot] = 0;
        }
    }
    free(col);
    free(stem);
    for (int slot = 0; slot < 2; slot++) {
        if (found[slot]) {
            *strong = found_strong[slot] && ambiguous[slot] == 0;
            return ambiguous[slot] && !found_strong[slot] ? NULL : found[slot];
        }
    }
    return NULL;
}

static char *fk_desc(Inf *inf, const MappingCatFkey *f)
{
    char *c = cols_text(inf, f->cols), *r = cols_text(inf, f->ref_cols);
    char *s = xprintf(inf, "foreign key %s %s -> %s.%s %s", f->name, c ? c : "", f->ref_schema, f->ref_table, r ? r : "");
    free(c);
    free(r);
    return s;
}

static int cmp_fk(const void *a, const void *b)
{
    const MappingCatFkey *x = *(const MappingCatFkey *const *)a, *y = *(const MappingCatFkey *const *)b;
    for (size_t i = 0; x->cols[i] || y->cols[i]; i++) {
        if (!x->cols[i] || !y->cols[i])
            return x->cols[i] ? 1 : -1;
        int c = strcmp(x->cols[i], y->cols[i]);
        if (c)
            return c;
    }
    return strcmp(x->name, y->name);
}

static void node_rels(Inf *inf, Ent *e)
{
    const MappingCatTable *t = e->t;
    const MappingCatFkey **fks = calloc(t->nfkeys + 1, sizeof(*fks));
    if (fks == NULL) {
        inf->oom = true;
        return;
    }
    for (size_t i = 0; i < t->nfkeys; i++)
        fks[i] = &t->fkeys[i];
    qsort(fks, t->nfkeys, sizeof(*fks), cmp_fk);
    for (size_t i = 0; i < t->nfkeys; i++) {
        const MappingCatFkey *f = fks[i];
        char *d = fk_desc(inf, f);
        if (list_len(f->cols) != 1) {
            P2nBuf b;
            p2n_buf_init(&b);
            table_type(f->ref_table, &b);
            char *ty = buf_str(inf, &b);
            add_note(inf, e, xprintf(inf, "not mapped: %s: a relationship needs a single-column key (it would be %s)",
                                     d ? d : "", ty ? ty : ""));
            free(ty);
            free(d);
            continue;
        }
        Ent *target;
        char *why = fk_problem(inf, e, f, &target);
        if (why) {
            add_note(inf, e, xprintf(inf, "not mapped: %s: %s", d ? d : "", why));
            free(why);
            free(d);
            continue;
        }
        P2nBuf b;
        p2n_buf_init(&b);
        mapping_infer_fk_type(f->cols[0], f->ref_table, &b);
        char *type = unique_type(inf, e, buf_str(inf, &b), f->cols[0], target);
        add_rel(inf, e, type, f->cols[0], target, xprintf(inf, "%s", f->name), false);
        free(d);
    }
    free(fks);
    /* arrays of keys */
    for (size_t i = 0; i < t->ncols; i++) {
        const MappingCatColumn *c = &t->cols[i];
        if (!c->is_array || !utf8_ok(c->name))
            continue;
        bool by_fk = false;
        for (size_t r = 0; r < e->nrels; r++)
            by_fk = by_fk || strcmp(e->rels[r].column, c->name) == 0;
        if (by_fk)
            continue;
        Ent *target = NULL;
        char *named = NULL;
        bool strong = false;
        char *note = NULL;
        if (c->comment && comment_reference(inf, e, c->comment, &target, &named)) {
            if (target == NULL || target->role != ROLE_NODE || !array_target_ok(c, target)) {
                const MappingCatColumn *k = single_key(target);
                if (target == NULL)
                    add_note(inf, e, xprintf(inf, "not mapped: column %s (%s): its comment says it references %s, "
                                                  "which is not selected", c->name, c->sql_type, named ? named : "?"));
                else if (k == NULL)
                    add_note(inf, e, xprintf(inf, "not mapped: column %s (%s): its comment says it references %s, "
                                                  "which is not a node with a single-column key", c->name, c->sql_type,
                                             named ? named : "?"));
                else
                    add_note(inf, e, xprintf(inf, "not mapped: column %s (%s): its comment says it references %s, "
                                                  "whose key has type %s", c->name, c->sql_type, named ? named : "?",
                                             k->sql_type));
                free(named);
                continue;
            }
            strong = true;
            note = xprintf(inf, "array of keys: its comment says it references %s", named ? named : "?");
            free(named);
        } else {
            free(named);
            target = array_name_target(inf, e, c, &strong);
            if (target == NULL)
                continue;
            note = strong ? xprintf(inf, "array of keys of %s, by its name", target->name)
                          : xprintf(inf, "%s (%s) may hold keys of %s (table %s): if it does, add", c->name,
                                    c->sql_type, target->name, target->t->name);
        }
        P2nBuf b;
        p2n_buf_init(&b);
        mapping_infer_array_type(c->name, target->t->name, &b);
        char *type = unique_type(inf, e, buf_str(inf, &b), c->name, target);
        add_rel(inf, e, type, c->name, target, note, !strong);
    }
}

/* ---- writing ---- */

static void indent(P2nBuf *b, int n)
{
    for (int i = 0; i < n; i++)
        p2n_buf_append_byte(b, ' ');
}

static void comment_line(P2nBuf *b, int ind, const char *text)
{
    indent(b, ind);
    p2n_buf_append_str(b, "# ");
    comment_text(b, text);
    p2n_buf_append_byte(b, '\n');
}

/* A comment of at most two lines from free text (a table comment): whitespace runs become one
   space, cut at ~200 bytes. */
static void comment_free_text(P2nBuf *b, int ind, const char *text)
{
    char cut[256];
    size_t n = 0;
    bool space = false;
    for (const char *p = text; *p && n < 200; p++) {
        if (isspace((unsigned char)*p)) {
            space = n > 0;
            continue;
        }
        if (space)
            cut[n++] = ' ';
        space = false;
        cut[n++] = *p;
    }
    /* do not end inside a UTF-8 sequence */
    while (n > 0 && mapping_utf8_invalid_at(cut, n) != SIZE_MAX)
        n--;
    cut[n] = '\0';
    if (n > 0)
        comment_line(b, ind, cut);
}

static void key_value(P2nBuf *b, int ind, const char *key, const char *value)
{
    indent(b, ind);
    p2n_buf_append_str(b, key);
    p2n_buf_append_str(b, ": ");
    mapping_infer_yaml(b, value);
    p2n_buf_append_byte(b, '\n');
}

static void key_list(P2nBuf *b, int ind, const char *key, const char *const *vals, size_t n)
{
    indent(b, ind);
    p2n_buf_append_str(b, key);
    p2n_buf_append_str(b, ": ");
    if (n == 1) {
        mapping_infer_yaml(b, vals[0]);
    } else {
        p2n_buf_append_byte(b, '[');
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                p2n_buf_append_str(b, ", ");
            mapping_infer_yaml(b, vals[i]);
        }
        p2n_buf_append_byte(b, ']');
    }
    p2n_buf_append_byte(b, '\n');
}

static bool is_key_col(const Ent *e, const char *col)
{
    for (size_t i = 0; i < e->nkey; i++)
        if (strcmp(e->key[i], col) == 0)
            return true;
    return false;
}

/* Whether a column name looks like a credential (a word password, passwd, passphrase, secret). */
static bool looks_secret(const char *name)
{
    size_t n;
    Word *w = words_of(name, &n);
    bool s = false;
    for (size_t i = 0; w && i < n && !s; i++)
        s = word_is(w[i].p, w[i].n, "password") || word_is(w[i].p, w[i].n, "passwd") ||
            word_is(w[i].p, w[i].n, "passphrase") || word_is(w[i].p, w[i].n, "secret") ||
            word_is(w[i].p, w[i].n, "pwd");
    free(w);
    return s;
}

/* The declared precision of a numeric column (numeric(p,s), numeric(p)[]...), -1 for none. */
static int numeric_precision(const MappingCatColumn *c)
{
    if (strncmp(c->sql_type, "numeric(", 8) != 0)
        return -1;
    return atoi(c->sql_type + 8);
}

/* The largest numeric precision whose values a double holds exactly as decimal text (DBL_DIG). */
#define INFER_FLOAT_DIGITS 15

/* What a column is for the entity's property selection. */
typedef enum ColKind {
    COL_PROP = 0, /* a property */
    COL_SECRET,   /* a property name that looks like a credential: excluded */
    COL_READ,     /* read for a relationship (or a join table's end), not a property */
    COL_BADNAME   /* a name the file cannot hold (not UTF-8) */
} ColKind;

static ColKind col_kind(const Ent *e, const MappingCatColumn *c, const char *const *read, size_t nread)
{
    bool key = is_key_col(e, c->name);
    /* a node's key columns are properties even when a relationship reads them; a join table's
       ends never are */
    if (in_list(read, nread, c->name) && (e->role == ROLE_LINK || !key))
        return COL_READ;
    if (!utf8_ok(c->name))
        return COL_BADNAME;
    if (!key && looks_secret(c->name))
        return COL_SECRET;
    return COL_PROP;
}

static bool is_json(const MappingCatColumn *c)
{
    return !c->is_array && (strcmp(c->type, "json") == 0 || strcmp(c->type, "jsonb") == 0);
}

static bool is_soft_delete(const MappingCatColumn *c)
{
    if (c->is_array)
        return false;
    if (strcmp(c->name, "deleted_at") == 0)
        return strncmp(c->type, "timestamp", 9) == 0;
    return (strcmp(c->name, "is_deleted") == 0 || strcmp(c->name, "deleted") == 0) && strcmp(c->type, "bool") == 0;
}

/* The conversion a property needs written (numeric must choose; json is made explicit), with
   the reason; NULL for none. */
static const char *conv_needed(Inf *inf, const MappingCatColumn *c, char **why)
{
    *why = NULL;
    if (strcmp(c->type, "numeric") == 0) {
        int p = numeric_precision(c);
        if (p > 0 && p <= INFER_FLOAT_DIGITS) {
            *why = xprintf(inf, "%s: at most %d digits, which a Float holds exactly", c->sql_type, p);
            return "float";
        }
        if (p > 0)
            *why = xprintf(inf, "%s: more digits than a Float holds, kept exact as text", c->sql_type);
        else if (strncmp(c->sql_type, "numeric", 7) == 0)
            *why = xprintf(inf, "%s: no declared precision, kept exact as text (float would round)", c->sql_type);
        else
            *why = xprintf(inf, "%s (a numeric domain): kept exact as text (float may round)", c->sql_type);
        return "string";
    }
    if (is_json(c)) {
        *why = xprintf(inf, "%s: its JSON text; map would flatten an object into %s.<key> properties", c->sql_type,
                       c->name);
        return "string";
    }
    return NULL;
}

static void flow_list_start(P2nBuf *b, const char *key, size_t *k)
{
    indent(b, 4);
    p2n_buf_append_str(b, key);
    p2n_buf_append_str(b, ": [");
    *k = 0;
}

static void flow_list_item(P2nBuf *b, const char *s, size_t *k)
{
    if ((*k)++ > 0)
        p2n_buf_append_str(b, ", ");
    mapping_infer_yaml(b, s);
}

/* Writes properties, exclude, rename and convert of an entity; read are the columns read for
   relationships (or a join table's ends). */
static void write_props(Inf *inf, P2nBuf *b, const Ent *e, const char *const *read, size_t nread)
{
    const MappingCatTable *t = e->t;
    const MappingCatColumn **cols = calloc(t->ncols + 1, sizeof(*cols));
    ColKind *kind = calloc(t->ncols + 1, sizeof(*kind));
    if (cols == NULL || kind == NULL) {
        free(cols);
        free(kind);
        inf->oom = true;
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < t->ncols; i++)
        cols[n++] = &t->cols[i];
    /* sorted by name */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(cols[j - 1]->name, cols[j]->name) > 0; j--) {
            const MappingCatColumn *x = cols[j];
            cols[j] = cols[j - 1];
            cols[j - 1] = x;
        }
    size_t count[4] = {0, 0, 0, 0}, renames = 0, converts = 0;
    const char *soft = NULL;
    for (size_t i = 0; i < n; i++) {
        kind[i] = col_kind(e, cols[i], read, nread);
        count[kind[i]]++;
        if (kind[i] != COL_PROP)
            continue;
        renames += strncmp(cols[i]->name, "_p2n_", 5) == 0;
        char *why = NULL;
        converts += conv_needed(inf, cols[i], &why) != NULL;
        free(why);
        if (soft == NULL && !is_key_col(e, cols[i]->name) && is_soft_delete(cols[i]))
            soft = cols[i]->name;
    }
    size_t k;
    if (count[COL_BADNAME] > 0) {
        /* a name the file cannot hold: list the others */
        comment_line(b, 4, "a column name is not valid UTF-8 and cannot be written here: the other columns are listed");
        flow_list_start(b, "properties", &k);
        for (size_t i = 0; i < n; i++)
            if (kind[i] == COL_PROP && !is_key_col(e, cols[i]->name))
                flow_list_item(b, cols[i]->name, &k);
        p2n_buf_append_str(b, "]\n");
    } else if (count[COL_SECRET] > 0) {
        flow_list_start(b, "exclude", &k);
        for (size_t i = 0; i < n; i++)
            if (kind[i] == COL_SECRET)
                flow_list_item(b, cols[i]->name, &k);
        p2n_buf_append_str(b, "]  # looks like a credential: kept out of the graph (remove it here to sync it)\n");
    }
    if (renames > 0) {
        indent(b, 4);
        p2n_buf_append_str(b, "rename:  # the prefix _p2n_ is pg2neo's\n");
        for (size_t i = 0; i < n; i++) {
            if (kind[i] != COL_PROP || strncmp(cols[i]->name, "_p2n_", 5) != 0)
                continue;
            /* p2n_<rest>, with _2, _3... while a column has that name */
            char *prop = xprintf(inf, "%s", cols[i]->name + 1);
            for (int v = 2; prop && col_of(t, prop) && v < 1000; v++) {
                free(prop);
                prop = xprintf(inf, "%s_%d", cols[i]->name + 1, v);
            }
            if (prop == NULL)
                continue;
            indent(b, 6);
            mapping_infer_yaml(b, cols[i]->name);
            p2n_buf_append_str(b, ": ");
            mapping_infer_yaml(b, prop);
            p2n_buf_append_byte(b, '\n');
            free(prop);
        }
    }
    if (converts > 0) {
        indent(b, 4);
        p2n_buf_append_str(b, "convert:\n");
        for (size_t i = 0; i < n; i++) {
            char *why = NULL;
            const char *conv = kind[i] == COL_PROP ? conv_needed(inf, cols[i], &why) : NULL;
            if (conv != NULL) {
                indent(b, 6);
                mapping_infer_yaml(b, cols[i]->name);
                p2n_buf_append_str(b, ": ");
                p2n_buf_append_str(b, conv);
                if (why) {
                    p2n_buf_append_str(b, "  # ");
                    comment_text(b, why);
                }
                p2n_buf_append_byte(b, '\n');
            }
            free(why);
        }
    }
    if (soft) {
        char *s = strcmp(soft, "deleted_at") == 0
                      ? xprintf(inf, "%s looks like a soft delete: \"delete_when: %s IS NOT NULL\" would remove the "
                                     "node of such a row", soft, soft)
                      : xprintf(inf, "%s looks like a soft delete: \"delete_when: %s\" would remove the node of such a row",
                                soft, soft);
        if (s)
            comment_line(b, 4, s);
        free(s);
    }
    free(cols);
    free(kind);
}

static void write_table_ref(Inf *inf, P2nBuf *b, const Ent *e)
{
    key_value(b, 4, "table", e->t->name);
    if (strcmp(e->t->schema, inf->o->schemas[0]) != 0)
        key_value(b, 4, "schema", e->t->schema);
}

static void write_node(Inf *inf, P2nBuf *b, Ent *e)
{
    indent(b, 2);
    mapping_infer_yaml(b, e->name);
    p2n_buf_append_str(b, ":\n");
    if (e->t->comment)
        comment_free_text(b, 4, e->t->comment);
    write_table_ref(inf, b, e);
    if (e->key_note)
        comment_line(b, 4, e->key_note);
    key_list(b, 4, "key", e->key, e->nkey);
    const char **skip = calloc(e->nrels + 1, sizeof(*skip));
    size_t nskip = 0;
    for (size_t i = 0; skip && i < e->nrels; i++)
        if (!e->rels[i].suggestion)
            skip[nskip++] = e->rels[i].column;
    write_props(inf, b, e, skip, nskip);
    free(skip);
    /* relationships sorted by column, then type */
    for (size_t i = 1; i < e->nrels; i++)
        for (size_t j = i; j > 0; j--) {
            Rel *x = &e->rels[j - 1], *y = &e->rels[j];
            int c = strcmp(x->column, y->column);
            if (c < 0 || (c == 0 && strcmp(x->type, y->type) <= 0))
                break;
            Rel tmp = *x;
            *x = *y;
            *y = tmp;
        }
    bool header = false;
    for (size_t i = 0; i < e->nrels; i++) {
        Rel *r = &e->rels[i];
        if (r->suggestion)
            continue;
        if (!header) {
            indent(b, 4);
            p2n_buf_append_str(b, "relationships:\n");
            header = true;
        }
        indent(b, 6);
        p2n_buf_append_str(b, "- type: ");
        mapping_infer_yaml(b, r->type);
        p2n_buf_append_str(b, "  # (:");
        comment_text(b, e->name);
        p2n_buf_append_str(b, ")-[:");
        comment_text(b, r->type);
        p2n_buf_append_str(b, "]->(:");
        comment_text(b, r->target->name);
        p2n_buf_append_str(b, ")");
        if (r->note) {
            p2n_buf_append_str(b, ", ");
            comment_text(b, r->note);
        }
        p2n_buf_append_byte(b, '\n');
        key_value(b, 8, "column", r->column);
        key_value(b, 8, "to", r->target->name);
    }
    for (size_t i = 0; i < e->nrels; i++) {
        Rel *r = &e->rels[i];
        if (!r->suggestion)
            continue;
        P2nBuf s;
        p2n_buf_init(&s);
        p2n_buf_append_str(&s, r->note ? r->note : "");
        p2n_buf_append_str(&s, " {type: ");
        mapping_infer_yaml(&s, r->type);
        p2n_buf_append_str(&s, ", column: ");
        mapping_infer_yaml(&s, r->column);
        p2n_buf_append_str(&s, ", to: ");
        mapping_infer_yaml(&s, r->target->name);
        p2n_buf_append_str(&s, "} to relationships, or COMMENT ON COLUMN ... IS 'references ");
        p2n_buf_append_str(&s, r->target->t->name);
        p2n_buf_append_str(&s, "' and infer again");
        char *text = buf_str(inf, &s);
        if (text)
            comment_line(b, 4, text);
        free(text);
    }
    for (size_t i = 0; i < e->nnotes; i++)
        comment_line(b, 4, e->notes[i]);
}

static void write_link(Inf *inf, P2nBuf *b, Ent *e)
{
    const MappingCatFkey *ff = &e->t->fkeys[e->from_fk], *tf = &e->t->fkeys[e->to_fk];
    Ent *from = ent_find(inf, ff->ref_schema, ff->ref_table), *to = ent_find(inf, tf->ref_schema, tf->ref_table);
    indent(b, 2);
    mapping_infer_yaml(b, e->name);
    p2n_buf_append_str(b, ":\n");
    if (e->t->comment)
        comment_free_text(b, 4, e->t->comment);
    char *shape = xprintf(inf, "(:%s)-[:%s]->(:%s), one per row; its other columns are the relationship's properties",
                          from->name, e->link_type, to->name);
    if (shape)
        comment_line(b, 4, shape);
    free(shape);
    write_table_ref(inf, b, e);
    key_value(b, 4, "type", e->link_type);
    if (e->key_note)
        comment_line(b, 4, e->key_note);
    key_list(b, 4, "key", e->key, e->nkey);
    indent(b, 4);
    p2n_buf_append_str(b, "from: {entity: ");
    mapping_infer_yaml(b, from->name);
    p2n_buf_append_str(b, ", column: ");
    mapping_infer_yaml(b, ff->cols[0]);
    p2n_buf_append_str(b, "}\n");
    indent(b, 4);
    p2n_buf_append_str(b, "to: {entity: ");
    mapping_infer_yaml(b, to->name);
    p2n_buf_append_str(b, ", column: ");
    mapping_infer_yaml(b, tf->cols[0]);
    p2n_buf_append_str(b, "}\n");
    const char *ends[2] = {ff->cols[0], tf->cols[0]};
    write_props(inf, b, e, ends, 2);
}

static void write_skip(P2nBuf *b, const Ent *e)
{
    indent(b, 2);
    p2n_buf_append_str(b, "# skipped ");
    comment_text(b, e->t->schema);
    p2n_buf_append_byte(b, '.');
    comment_text(b, e->t->name);
    p2n_buf_append_str(b, ": ");
    comment_text(b, e->why ? e->why : "");
    p2n_buf_append_byte(b, '\n');
}

/* ---- the whole ---- */

/* The order of everything: the schemas in the order given (tables named schema-qualified from
   other schemas after them, by schema name), then table names; the first schema's tables are
   named first, so they keep the plain names when two tables would have one. */
typedef struct Ranked {
    size_t rank; /* index of the table's schema in the options, nschemas for others */
    const MappingCatTable *t;
} Ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const Ranked *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    int c = strcmp(x->t->schema, y->t->schema);
    return c ? c : strcmp(x->t->name, y->t->name);
}

/* Whether spec names t: "schema.name", or "name" in a selected schema. */
static bool spec_matches(const char *spec, const MappingCatTable *t, bool schema_ok)
{
    size_t ls = strlen(t->schema);
    if (strncmp(spec, t->schema, ls) == 0 && spec[ls] == '.' && strcmp(spec + ls + 1, t->name) == 0)
        return true;
    return schema_ok && strcmp(spec, t->name) == 0;
}

/* Whether t is selected: in a selected schema (all its tables, or those --table names), or
   named schema-qualified by --table. */
static bool table_wanted(const MappingInferOptions *o, const MappingCatTable *t)
{
    bool schema_ok = in_list(o->schemas, o->nschemas, t->schema);
    if (o->ntables == 0)
        return schema_ok;
    for (size_t i = 0; i < o->ntables; i++)
        if (spec_matches(o->tables[i], t, schema_ok))
            return true;
    return false;
}

static void ents_free(Inf *inf)
{
    for (size_t i = 0; i < inf->n; i++) {
        Ent *e = &inf->ents[i];
        free(e->why);
        free(e->name);
        free(e->base);
        free(e->key);
        free(e->key_note);
        free(e->link_type);
        for (size_t r = 0; r < e->nrels; r++) {
            free(e->rels[r].type);
            free(e->rels[r].note);
        }
        free(e->rels);
        for (size_t k = 0; k < e->nnotes; k++)
            free(e->notes[k]);
        free(e->notes);
    }
    free(inf->ents);
}

/* Checks that every --schema and --table names something. */
static int check_selection(const MappingCatalog *cat, const MappingInferOptions *o, P2nErr *err)
{
    for (size_t s = 0; s < o->nschemas; s++) {
        bool any = false;
        for (size_t i = 0; i < cat->ntables && !any; i++)
            any = strcmp(cat->tables[i].schema, o->schemas[s]) == 0;
        if (!any)
            return p2n_err_set(err, P2N_ENOTFOUND, "schema \"%s\" has no table (or does not exist)", o->schemas[s]);
    }
    for (size_t k = 0; k < o->ntables; k++) {
        bool any = false;
        for (size_t i = 0; i < cat->ntables && !any; i++)
            any = spec_matches(o->tables[k], &cat->tables[i], in_list(o->schemas, o->nschemas, cat->tables[i].schema));
        if (any)
            continue;
        const char **names = calloc(cat->ntables + 1, sizeof(*names));
        size_t n = 0;
        for (size_t i = 0; names && i < cat->ntables; i++)
            if (in_list(o->schemas, o->nschemas, cat->tables[i].schema))
                names[n++] = cat->tables[i].name;
        const char *sug = names ? mapping_closest(o->tables[k], names, n) : NULL;
        int rc;
        if (sug)
            rc = p2n_err_set(err, P2N_ENOTFOUND, "table \"%s\" does not exist in schema \"%s\" (did you mean \"%s\"?)",
                             o->tables[k], o->schemas[0], sug);
        else
            rc = p2n_err_set(err, P2N_ENOTFOUND, "table \"%s\" does not exist in the selected schemas (give "
                             "schema.table for another schema)", o->tables[k]);
        free(names);
        return rc;
    }
    return 0;
}

/* A skipped table's reason, decided before keys: a view, a partition, pg2neo's own table... */
static char *early_skip(Inf *inf, const MappingCatTable *t)
{
    if (!utf8_ok(t->name) || !utf8_ok(t->schema))
        return xprintf(inf, "its name is not valid UTF-8, which a mapping file cannot hold");
    switch (t->kind) {
    case 'v':
        return xprintf(inf, "a view: it has no key and no capture triggers (map the tables it reads)");
    case 'm':
        return xprintf(inf, "a materialized view: no capture triggers see its refreshes (map the tables it reads)");
    case 'f':
        return xprintf(inf, "a foreign table: its rows change on another server, where no capture trigger sees them");
    default:
        break;
    }
    if (strncmp(t->name, "graph_sync_", 11) == 0)
        return xprintf(inf, "pg2neo's own sync table");
    if (t->extension)
        return xprintf(inf, "a table of extension %s (map it by hand if its rows belong in the graph)", t->extension);
    return NULL;
}

static void link_type_of(Inf *inf, Ent *e)
{
    P2nBuf b;
    p2n_buf_init(&b);
    mapping_infer_upper_snake(e->base, &b);
    char *type = buf_str(inf, &b);
    if (type == NULL)
        return;
    /* a relationship from a column with this type between the same labels would delete the
       join table's relationships when it diffs its own: make it distinct */
    const MappingCatFkey *ff = &e->t->fkeys[e->from_fk], *tf = &e->t->fkeys[e->to_fk];
    Ent *from = ent_find(inf, ff->ref_schema, ff->ref_table), *to = ent_find(inf, tf->ref_schema, tf->ref_table);
    for (int k = 2; k < 1000; k++) {
        bool clash = false;
        for (size_t r = 0; from && r < from->nrels && !clash; r++)
            clash = !from->rels[r].suggestion && from->rels[r].target == to && strcmp(from->rels[r].type, type) == 0;
        if (!clash)
            break;
        char *alt = xprintf(inf, "%s_%d", e->base, k);
        free(type);
        type = NULL;
        if (alt == NULL)
            return;
        p2n_buf_init(&b);
        mapping_infer_upper_snake(alt, &b);
        free(alt);
        type = buf_str(inf, &b);
        if (type == NULL)
            return;
    }
    e->link_type = type;
}

static void write_header(Inf *inf, P2nBuf *b, size_t nodes, size_t links, size_t rels, size_t skipped)
{
    const MappingInferOptions *o = inf->o;
    P2nBuf h;
    p2n_buf_init(&h);
    p2n_buf_append_str(&h, "A pg2neo mapping inferred");
    if (o->origin)
        p2n_buf_printf(&h, " from %s", o->origin);
    p2n_buf_printf(&h, ", schema%s ", o->nschemas > 1 ? "s" : "");
    for (size_t i = 0; i < o->nschemas; i++)
        p2n_buf_printf(&h, "%s%s", i ? ", " : "", o->schemas[i]);
    if (o->version)
        p2n_buf_printf(&h, ", by pg2neo infer %s", o->version);
    char *line = buf_str(inf, &h);
    if (line)
        comment_line(b, 0, line);
    free(line);
    line = xprintf(inf, "%zu node entit%s, %zu relationship%s from foreign keys and arrays of keys, %zu join table%s; "
                        "%zu table%s skipped%s", nodes, nodes == 1 ? "y" : "ies", rels, rels == 1 ? "" : "s", links,
                   links == 1 ? "" : "s", skipped, skipped == 1 ? "" : "s", skipped ? " (each says why)" : "");
    if (line)
        comment_line(b, 0, line);
    free(line);
    comment_line(b, 0, "Labels, relationship types and directions are guesses from names (docs/mapping.md, \"pg2neo "
                       "infer\"): review them, then run pg2neo check on this file.");
    p2n_buf_append_str(b, "version: 1\n\nsource:\n");
    key_value(b, 2, "schema", o->schemas[0]);
    comment_line(b, 2, "the connection: DATABASE_URL or the PG* variables (or conninfo: here)");
    p2n_buf_append_byte(b, '\n');
    comment_line(b, 0, "target: NEO4J_URI, NEO4J_USER and NEO4J_PASSWORD (or NEO4J_PASSWORD_FILE) from the environment");
    p2n_buf_append_byte(b, '\n');
}

int mapping_infer(const MappingCatalog *cat, const MappingInferOptions *o, P2nBuf *out, P2nErr *err)
{
    if (o->nschemas == 0)
        return p2n_err_set(err, P2N_EINVAL, "no schema to infer a mapping from");
    int rc = check_selection(cat, o, err);
    if (rc < 0)
        return rc;
    Inf inf;
    memset(&inf, 0, sizeof(inf));
    inf.cat = cat;
    inf.o = o;
    Ranked *sel = calloc(cat->ntables + 1, sizeof(*sel));
    if (sel == NULL)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    for (size_t i = 0; i < cat->ntables; i++) {
        const MappingCatTable *t = &cat->tables[i];
        if (!table_wanted(o, t))
            continue;
        size_t rank = 0;
        while (rank < o->nschemas && strcmp(o->schemas[rank], t->schema) != 0)
            rank++;
        sel[inf.n++] = (Ranked){rank, t};
    }
    qsort(sel, inf.n, sizeof(*sel), cmp_ranked);
    inf.ents = calloc(inf.n + 1, sizeof(*inf.ents));
    if (inf.ents == NULL) {
        free(sel);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < inf.n; i++)
        inf.ents[i].t = sel[i].t;
    free(sel);

    /* 1. keys: who can be an entity */
    for (size_t i = 0; i < inf.n; i++) {
        Ent *e = &inf.ents[i];
        e->why = early_skip(&inf, e->t);
        if (e->why == NULL && e->t->parent_name == NULL) {
            choose_key(&inf, e);
            if (e->why == NULL && e->nkey > 0)
                e->role = ROLE_NODE;
        }
    }
    /* 2. partitions: mapped through their parent */
    for (size_t i = 0; i < inf.n; i++) {
        Ent *e = &inf.ents[i];
        if (e->why || e->t->parent_name == NULL)
            continue;
        Ent *p = ent_find(&inf, e->t->parent_schema, e->t->parent_name);
        if (p && p->role != ROLE_SKIP)
            e->why = xprintf(&inf, "a partition of %s.%s, whose entity holds its rows", e->t->parent_schema,
                             e->t->parent_name);
        else if (p)
            e->why = xprintf(&inf, "a partition of %s.%s, which is skipped (see there)", e->t->parent_schema,
                             e->t->parent_name);
        else
            e->why = xprintf(&inf, "a partition of %s.%s, which is not selected", e->t->parent_schema,
                             e->t->parent_name);
    }
    /* 3. join tables: keyed by two foreign keys to nodes, referenced by none */
    for (size_t i = 0; i < inf.n; i++)
        for (size_t k = 0; k < inf.ents[i].t->nfkeys; k++) {
            const MappingCatFkey *f = &inf.ents[i].t->fkeys[k];
            Ent *t = ent_find(&inf, f->ref_schema, f->ref_table);
            if (t)
                t->referenced = true; /* a self-reference too: such a table is a node */
        }
    for (size_t i = 0; i < inf.n; i++)
        try_link(&inf, &inf.ents[i]);
    /* 4. names, in table order */
    for (size_t i = 0; i < inf.n; i++)
        if (inf.ents[i].role != ROLE_SKIP)
            assign_name(&inf, &inf.ents[i]);
    /* 5. relationships of the nodes, then the join tables' types */
    size_t nodes = 0, links = 0, rels = 0, skipped = 0;
    for (size_t i = 0; i < inf.n; i++) {
        Ent *e = &inf.ents[i];
        if (e->role == ROLE_NODE) {
            node_rels(&inf, e);
            nodes++;
            for (size_t r = 0; r < e->nrels; r++)
                rels += !e->rels[r].suggestion;
        } else if (e->role == ROLE_SKIP) {
            skipped++;
        }
    }
    for (size_t i = 0; i < inf.n; i++)
        if (inf.ents[i].role == ROLE_LINK) {
            link_type_of(&inf, &inf.ents[i]);
            links++;
        }
    if (inf.oom) {
        ents_free(&inf);
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    }
    if (nodes == 0) {
        P2nBuf why;
        p2n_buf_init(&why);
        for (size_t i = 0; i < inf.n && i < 5; i++)
            p2n_buf_printf(&why, "; %s.%s: %s", inf.ents[i].t->schema, inf.ents[i].t->name,
                           inf.ents[i].why ? inf.ents[i].why : "");
        if (inf.n > 5)
            p2n_buf_printf(&why, "; and %zu more", inf.n - 5);
        p2n_buf_append(&why, "", 0);
        rc = p2n_err_set(err, P2N_ECONFIG, "no selected table can be an entity%s",
                         why.data ? (const char *)why.data : "");
        p2n_buf_free(&why);
        ents_free(&inf);
        return rc;
    }
    /* 6. the text */
    write_header(&inf, out, nodes, links, rels, skipped);
    p2n_buf_append_str(out, "entities:\n");
    for (size_t i = 0; i < inf.n; i++) {
        Ent *e = &inf.ents[i];
        if (e->role == ROLE_NODE)
            write_node(&inf, out, e);
        else if (e->role == ROLE_SKIP)
            write_skip(out, e);
    }
    if (links > 0) {
        p2n_buf_append_str(out, "\nrelationships:\n");
        for (size_t i = 0; i < inf.n; i++)
            if (inf.ents[i].role == ROLE_LINK)
                write_link(&inf, out, &inf.ents[i]);
    }
    ents_free(&inf);
    if (inf.oom || out->failed)
        return p2n_err_set(err, P2N_ENOMEM, "out of memory");
    return 0;
}
