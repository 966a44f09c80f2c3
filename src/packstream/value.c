/* PackStream value accessors and deep comparison (no allocation). */
#include "packstream/packstream.h"

#include <math.h>
#include <string.h>

const PsValue *ps_map_get(const PsValue *map, const char *key)
{
    if (map == NULL || map->type != PS_MAP || key == NULL)
        return NULL;
    size_t klen = strlen(key);
    /* From the end: if a hand-built map repeats a key, the last one wins, as on the wire. */
    for (uint32_t i = map->u.map.len; i-- > 0;) {
        const PsMapEntry *e = &map->u.map.entries[i];
        if (e->key_len == klen && memcmp(e->key, key, klen) == 0)
            return &e->value;
    }
    return NULL;
}

bool ps_map_get_int(const PsValue *map, const char *key, int64_t *out)
{
    const PsValue *v = ps_map_get(map, key);
    if (v == NULL || v->type != PS_INT)
        return false;
    *out = v->u.i;
    return true;
}

const char *ps_map_get_str(const PsValue *map, const char *key)
{
    const PsValue *v = ps_map_get(map, key);
    return v != NULL && v->type == PS_STRING ? v->u.str.data : NULL;
}

bool ps_map_get_bool(const PsValue *map, const char *key, bool *out)
{
    const PsValue *v = ps_map_get(map, key);
    if (v == NULL || v->type != PS_BOOL)
        return false;
    *out = v->u.b;
    return true;
}

const PsValue *ps_struct_field(const PsValue *v, uint8_t tag, uint8_t i)
{
    if (v == NULL || v->type != PS_STRUCT || v->u.st.tag != tag || i >= v->u.st.len)
        return NULL;
    return &v->u.st.fields[i];
}

static bool float_equal(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return a == b && signbit(a) == signbit(b);
}

bool ps_value_equal(const PsValue *a, const PsValue *b)
{
    if (a == b)
        return true;
    if (a == NULL || b == NULL || a->type != b->type)
        return false;
    switch (a->type) {
    case PS_NULL:
        return true;
    case PS_BOOL:
        return a->u.b == b->u.b;
    case PS_INT:
        return a->u.i == b->u.i;
    case PS_FLOAT:
        return float_equal(a->u.f, b->u.f);
    case PS_BYTES:
    case PS_STRING:
        return a->u.str.len == b->u.str.len &&
               (a->u.str.len == 0 || memcmp(a->u.str.data, b->u.str.data, a->u.str.len) == 0);
    case PS_LIST:
        if (a->u.list.len != b->u.list.len)
            return false;
        for (uint32_t i = 0; i < a->u.list.len; i++)
            if (!ps_value_equal(&a->u.list.items[i], &b->u.list.items[i]))
                return false;
        return true;
    case PS_MAP:
        if (a->u.map.len != b->u.map.len)
            return false;
        /* Order does not matter. Same position first (the common case), then a search. */
        for (uint32_t i = 0; i < a->u.map.len; i++) {
            const PsMapEntry *ea = &a->u.map.entries[i];
            const PsMapEntry *eb = &b->u.map.entries[i];
            if (!(ea->key_len == eb->key_len && memcmp(ea->key, eb->key, ea->key_len) == 0)) {
                eb = NULL;
                for (uint32_t j = 0; j < b->u.map.len; j++) {
                    const PsMapEntry *c = &b->u.map.entries[j];
                    if (c->key_len == ea->key_len && memcmp(c->key, ea->key, ea->key_len) == 0) {
                        eb = c;
                        break;
                    }
                }
                if (eb == NULL)
                    return false;
            }
            if (!ps_value_equal(&ea->value, &eb->value))
                return false;
        }
        return true;
    case PS_STRUCT:
        if (a->u.st.tag != b->u.st.tag || a->u.st.len != b->u.st.len)
            return false;
        for (uint8_t i = 0; i < a->u.st.len; i++)
            if (!ps_value_equal(&a->u.st.fields[i], &b->u.st.fields[i]))
                return false;
        return true;
    }
    return false;
}

const char *ps_type_name(PsType t)
{
    switch (t) {
    case PS_NULL:
        return "null";
    case PS_BOOL:
        return "boolean";
    case PS_INT:
        return "integer";
    case PS_FLOAT:
        return "float";
    case PS_BYTES:
        return "bytes";
    case PS_STRING:
        return "string";
    case PS_LIST:
        return "list";
    case PS_MAP:
        return "map";
    case PS_STRUCT:
        return "structure";
    }
    return "unknown";
}
