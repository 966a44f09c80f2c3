/*
 * pg2neo infer: a mapping from the catalog. Pure: a MappingCatalog (loaded by
 * mapping_catalog_load() and mapping_catalog_load_links(), or built by hand) in, the YAML text of
 * a complete, commented mapping out, which mapping_load_string() and mapping_resolve() accept
 * against the same catalog. docs/mapping.md ("pg2neo infer") is the user's reference for the rules:
 *   - a table with a usable key (its primary key, else the smallest unique key whose columns are
 *     NOT NULL and of a key type) is a node entity, labelled by its name in singular CamelCase;
 *   - a table keyed by exactly two single-column foreign keys to node entities' keys, with no other
 *     foreign key and no foreign key pointing at it, is a join table: a relationship entity;
 *   - a single-column foreign key to a node entity's key is a relationship from the referencing
 *     row to the referenced one, its type from the column name (customer_id -> CUSTOMER);
 *   - an array column whose comment says "references <table>", or named <singular>_ids, is an
 *     array of keys (one relationship per element); a weaker match is a comment;
 *   - numeric columns get their conversion (float up to 15 digits, else string), json and jsonb
 *     an explicit string; every table skipped and every foreign key not mapped gets a comment.
 * The output depends only on the catalog and the options (sorted by schema, table and column).
 */
#ifndef P2N_MAPPING_INFER_H
#define P2N_MAPPING_INFER_H

#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"
#include "mapping/mapping.h"

typedef struct MappingInferOptions {
    const char *const *schemas; /* the schemas whose tables are mapped (at least one); the first is
                                   source.schema, tables of the others name their schema */
    size_t nschemas;
    const char *const *tables;  /* only these tables ("name" in the schemas, or "schema.name");
                                   none: every table of the schemas */
    size_t ntables;
    const char *label_prefix;   /* prepended to every entity name and label; NULL or "" for none */
    const char *origin;         /* named in the header comment (e.g. database "shop"); may be NULL */
    const char *version;        /* pg2neo's version, in the header comment; may be NULL */
} MappingInferOptions;

/*
 * Appends the mapping to out. Returns 0; P2N_ENOTFOUND when a --table or --schema names nothing,
 * P2N_ECONFIG when no selected table can be an entity (err says why, with each table's reason),
 * P2N_ENOMEM.
 */
int mapping_infer(const MappingCatalog *cat, const MappingInferOptions *o, P2nBuf *out, P2nErr *err);

/* ---- the naming rules (exposed for the tests) ---- */
/* The singular of one English word (the irregular list, then suffix rules: -ies -> -y, -sses,
   -xes, -ches, -shes -> drop -es, -s -> drop it; words in -ss, -us, -is are kept). */
void mapping_infer_singular(const char *word, P2nBuf *out);
/* A table name as a label: words (split at non-alphanumerics and lower-to-upper changes), the
   last one singular, each capitalised and joined: order_details -> OrderDetail. */
void mapping_infer_label(const char *table, P2nBuf *out);
/* Words upper-cased and joined with '_': reportsTo -> REPORTS_TO. */
void mapping_infer_upper_snake(const char *name, P2nBuf *out);
/* The type of a relationship read from a foreign-key column: the column without a key suffix
   (_id, _uuid, _key, _code, _fk, _ref, Id) in upper snake case; the referenced table's singular
   when nothing is left (a column named id): customer_id -> CUSTOMER, reports_to -> REPORTS_TO. */
void mapping_infer_fk_type(const char *column, const char *ref_table, P2nBuf *out);
/* The type of an array of keys: the column without _ids (_uuids, _keys...), else with its last
   word singular: co_sponsors -> CO_SPONSOR, tag_ids -> TAG. */
void mapping_infer_array_type(const char *column, const char *ref_table, P2nBuf *out);
/* Appends s as a YAML scalar the loader reads back as exactly s: plain when it is a simple
   identifier and no YAML 1.1 boolean or null word, else double-quoted with escapes; every '$'
   doubled (the loader expands ${VAR} in every scalar). s must be valid UTF-8. */
void mapping_infer_yaml(P2nBuf *b, const char *s);

#endif
