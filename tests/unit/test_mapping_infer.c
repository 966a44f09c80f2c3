/*
 * Unit tests for pg2neo infer (src/mapping/infer.c): the naming rules (singulars, labels,
 * relationship types), YAML quoting read back through the loader, and a whole mapping inferred
 * from a hand-built catalog of every shape (join tables, self-references, composite and
 * unmappable foreign keys, arrays of keys, views, partitions, tables without a usable key,
 * conversions, hostile names), which the loader and the resolver must accept against the same
 * catalog, and which must not depend on the catalog's order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mapping/infer.h"
#include "mapping/mapping.h"

static const char *no_env(const char *name, void *ctx)
{
    (void)name;
    (void)ctx;
    return NULL;
}

typedef void (*NameFn)(const char *, P2nBuf *);

static void expect_name(NameFn fn, const char *in, const char *want)
{
    P2nBuf b;
    p2n_buf_init(&b);
    fn(in, &b);
    p2n_buf_append(&b, "", 0);
    if (strcmp((const char *)b.data, want) != 0)
        fail_msg("\"%s\" gave \"%s\", expected \"%s\"", in, (const char *)b.data, want);
    p2n_buf_free(&b);
}

static void expect_type(void (*fn)(const char *, const char *, P2nBuf *), const char *col, const char *table,
                        const char *want)
{
    P2nBuf b;
    p2n_buf_init(&b);
    fn(col, table, &b);
    p2n_buf_append(&b, "", 0);
    if (strcmp((const char *)b.data, want) != 0)
        fail_msg("column \"%s\" (table %s) gave \"%s\", expected \"%s\"", col, table, (const char *)b.data, want);
    p2n_buf_free(&b);
}

static void test_singular(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"customers", "customer"}, {"people", "person"},     {"categories", "category"}, {"addresses", "address"},
        {"statuses", "status"},    {"status", "status"},     {"address", "address"},     {"employees", "employee"},
        {"territories", "territory"}, {"demographics", "demographic"}, {"houses", "house"}, {"buses", "bus"},
        {"boxes", "box"},          {"matches", "match"},     {"dishes", "dish"},         {"series", "series"},
        {"data", "data"},          {"analysis", "analysis"}, {"analyses", "analysis"},   {"menus", "menu"},
        {"movies", "movie"},       {"quizzes", "quiz"},      {"children", "child"},      {"staff", "staff"},
        {"inventory", "inventory"}, {"region", "region"},   {"film", "film"},           {"courses", "course"},
        {"responses", "response"}, {"leaves", "leaf"},       {"archives", "archive"},    {"ties", "tie"},
        {"campuses", "campus"},    {"causes", "cause"},      {"us", "us"},               {"s", "s"},
        {"Customers", "Customer"}, {"CATEGORIES", "CATEGORY"}, {"PEOPLE", "PERSON"},     {"News", "News"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_name(mapping_infer_singular, cases[i][0], cases[i][1]);
}

static void test_label(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"customers", "Customer"},      {"order_details", "OrderDetail"}, {"people", "Person"},
        {"categories", "Category"},     {"addresses", "Address"},         {"statuses", "Status"},
        {"us_states", "UsState"},       {"film_actor", "FilmActor"},      {"OrderDetails", "OrderDetail"},
        {"USERS", "User"},              {"sales_people", "SalesPerson"},  {"customer_customer_demo", "CustomerCustomerDemo"},
        {"payment_p2022_01", "PaymentP202201"}, {"weird \"$name\"", "WeirdName"}, {"bücher", "Bücher"},
        {"___", "___"},                 {"on", "On"},                     {"2fa_codes", "2faCode"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_name(mapping_infer_label, cases[i][0], cases[i][1]);
    expect_name(mapping_infer_upper_snake, "reportsTo", "REPORTS_TO");
    expect_name(mapping_infer_upper_snake, "ship_via", "SHIP_VIA");
    expect_name(mapping_infer_upper_snake, "address2", "ADDRESS2");
}

static void test_rel_types(void **state)
{
    (void)state;
    expect_type(mapping_infer_fk_type, "customer_id", "customers", "CUSTOMER");
    expect_type(mapping_infer_fk_type, "reports_to", "employees", "REPORTS_TO");
    expect_type(mapping_infer_fk_type, "ship_via", "shippers", "SHIP_VIA");
    expect_type(mapping_infer_fk_type, "manager_staff_id", "staff", "MANAGER_STAFF");
    expect_type(mapping_infer_fk_type, "customerId", "customers", "CUSTOMER");
    expect_type(mapping_infer_fk_type, "CustomerID", "customers", "CUSTOMER");
    expect_type(mapping_infer_fk_type, "product_code", "products", "PRODUCT");
    expect_type(mapping_infer_fk_type, "valid", "x", "VALID"); /* not a camel-case Id */
    /* nothing left of the name: the referenced table's singular */
    expect_type(mapping_infer_fk_type, "id", "people", "PERSON");
    expect_type(mapping_infer_fk_type, "_id", "order_details", "ORDER_DETAIL");
    expect_type(mapping_infer_array_type, "co_sponsors", "sponsors", "CO_SPONSOR");
    expect_type(mapping_infer_array_type, "tag_ids", "tags", "TAG");
    expect_type(mapping_infer_array_type, "actorIds", "actors", "ACTOR");
    expect_type(mapping_infer_array_type, "ids", "people", "PERSON");
    expect_type(mapping_infer_array_type, "categories", "categories", "CATEGORY");
}

/* Every name reads back identical through the loader, as an entity name and as a table. */
static void test_yaml_quoting(void **state)
{
    (void)state;
    static const char *const names[] = {
        "Customer", "on", "ON", "yes", "Null", "n", "~", "a b", "x\"y", "back\\slash", "$HOME", "${X}", "$$",
        "tab\there", "new\nline", "cr\rx", "nel\xc2\x85x", "ls\xe2\x80\xa8x", "bom\xef\xbb\xbfx", "c1\xc2\x9fx",
        "\xc3\xbcn\xc3\xaf", "123", "1.5", "-dash", "#hash", ":colon", "a: b", "a #b", "[x]", "{y}", "*star",
        "&amp", "!bang", "%pct", "@at", "`tick", "'quote", ",comma", "?q", "|pipe", ">gt", " lead", "trail ",
        "\x01\x7f", "emoji \xf0\x9f\x98\x80",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        P2nBuf b;
        p2n_buf_init(&b);
        p2n_buf_append_str(&b, "entities:\n  ");
        mapping_infer_yaml(&b, names[i]);
        p2n_buf_append_str(&b, ":\n    table: ");
        mapping_infer_yaml(&b, names[i]);
        p2n_buf_append_str(&b, "\n");
        Mapping *m = NULL;
        MappingDiags d = {0};
        P2nErr err;
        p2n_err_clear(&err);
        int rc = mapping_load_string((const char *)b.data, b.len, "q.yaml", no_env, NULL, &m, &d, &err);
        if (rc != 0)
            fail_msg("name %zu: %s\n%.*s", i, err.msg, (int)b.len, (const char *)b.data);
        assert_int_equal(m->nentities, 1);
        assert_string_equal(m->entities[0].name, names[i]);
        assert_string_equal(m->entities[0].table, names[i]);
        mapping_free(m);
        mapping_diags_free(&d);
        p2n_buf_free(&b);
    }
    /* plain where it can be, quoted where YAML would read something else */
    P2nBuf b;
    p2n_buf_init(&b);
    mapping_infer_yaml(&b, "order_id");
    mapping_infer_yaml(&b, " ");
    mapping_infer_yaml(&b, "on");
    p2n_buf_append(&b, "", 0);
    assert_string_equal((const char *)b.data, "order_id\" \"\"on\"");
    p2n_buf_free(&b);
}

/* ---- a hand-built catalog of every shape ---- */

static MappingCatColumn *col(MappingCatTable *t, const char *name, const char *type, bool is_array, bool not_null)
{
    MappingCatColumn *c = mapping_catalog_add_column(t, name, type, is_array, not_null);
    assert_non_null(c);
    return c;
}

static void sql_type(MappingCatColumn *c, const char *s)
{
    free(c->sql_type);
    c->sql_type = strdup(s);
}

#define COLS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void add_tables(MappingCatalog *cat, int part)
{
    MappingCatTable *t;
    MappingCatColumn *c;
    if (part == 0) {
        t = mapping_catalog_add_table(cat, "public", "customers");
        t->kind = 'r';
        t->comment = strdup("Who buys:\n  one row a customer");
        c = col(t, "customer_id", "bpchar", false, true);
        sql_type(c, "character(5)");
        col(t, "company_name", "varchar", false, true);
        col(t, "email", "text", false, true);
        c = col(t, "balance", "numeric", false, false);
        sql_type(c, "numeric");
        col(t, "profile", "jsonb", false, false);
        col(t, "password_hash", "text", false, false);
        col(t, "_p2n_note", "text", false, false);
        col(t, "deleted_at", "timestamptz", false, false);
        mapping_catalog_add_unique(t, COLS("customer_id"), true);
        mapping_catalog_add_unique(t, COLS("email"), false);

        t = mapping_catalog_add_table(cat, "public", "employees");
        col(t, "employee_id", "int2", false, true);
        col(t, "reports_to", "int2", false, false);
        mapping_catalog_add_unique(t, COLS("employee_id"), true);
        mapping_catalog_add_fkey(t, "fk_employees_employees", COLS("reports_to"), "public", "employees",
                                 COLS("employee_id"));

        t = mapping_catalog_add_table(cat, "public", "employee_mentors");
        col(t, "mentor_id", "int2", false, true);
        col(t, "mentee_id", "int2", false, true);
        col(t, "since", "date", false, false);
        mapping_catalog_add_unique(t, COLS("mentor_id", "mentee_id"), true);
        mapping_catalog_add_fkey(t, "fk_mentor", COLS("mentor_id"), "public", "employees", COLS("employee_id"));
        mapping_catalog_add_fkey(t, "fk_mentee", COLS("mentee_id"), "public", "employees", COLS("employee_id"));

        t = mapping_catalog_add_table(cat, "public", "orders");
        col(t, "order_id", "int4", false, true);
        c = col(t, "customer_id", "bpchar", false, false);
        sql_type(c, "character(5)");
        col(t, "employee_id", "int2", false, false);
        col(t, "ship_via", "int4", false, false);
        c = col(t, "total", "numeric", false, false);
        sql_type(c, "numeric(10,2)");
        col(t, "meta", "json", false, false);
        c = col(t, "amounts", "numeric", true, false);
        sql_type(c, "numeric(30,2)[]");
        c = col(t, "prices", "numeric", true, false);
        sql_type(c, "numeric(5,2)[]");
        c = col(t, "fee", "numeric", false, false);
        sql_type(c, "money_amount");
        mapping_catalog_add_unique(t, COLS("order_id"), true);
        mapping_catalog_add_fkey(t, "fk_orders_customers", COLS("customer_id"), "public", "customers",
                                 COLS("customer_id"));
        mapping_catalog_add_fkey(t, "fk_orders_employees", COLS("employee_id"), "public", "employees",
                                 COLS("employee_id"));
        mapping_catalog_add_fkey(t, "fk_orders_shippers", COLS("ship_via"), "public", "shippers", COLS("shipper_id"));

        t = mapping_catalog_add_table(cat, "public", "shippers");
        col(t, "shipper_id", "int8", false, true);
        mapping_catalog_add_unique(t, COLS("shipper_id"), true);

        t = mapping_catalog_add_table(cat, "public", "order_details");
        col(t, "order_id", "int4", false, true);
        col(t, "product_id", "int4", false, true);
        col(t, "quantity", "int2", false, true);
        c = col(t, "unit_price", "numeric", false, true);
        sql_type(c, "numeric(20,4)");
        mapping_catalog_add_unique(t, COLS("order_id", "product_id"), true);
        mapping_catalog_add_fkey(t, "fk_od_orders", COLS("order_id"), "public", "orders", COLS("order_id"));
        mapping_catalog_add_fkey(t, "fk_od_products", COLS("product_id"), "public", "products", COLS("product_id"));

        t = mapping_catalog_add_table(cat, "public", "products");
        col(t, "product_id", "int4", false, true);
        col(t, "tag_ids", "int4", true, false);
        col(t, "co_suppliers", "int4", true, false);
        col(t, "product_supplier_id", "int4", false, false);
        mapping_catalog_add_unique(t, COLS("product_id"), true);
        mapping_catalog_add_fkey(t, "fk_products_ps", COLS("product_supplier_id"), "public", "suppliers",
                                 COLS("supplier_id"));

        t = mapping_catalog_add_table(cat, "public", "tags");
        col(t, "tag_id", "int4", false, true);
        col(t, "name", "text", false, true);
        mapping_catalog_add_unique(t, COLS("tag_id"), true);

        t = mapping_catalog_add_table(cat, "public", "suppliers");
        col(t, "supplier_id", "int4", false, true);
        mapping_catalog_add_unique(t, COLS("supplier_id"), true);

        t = mapping_catalog_add_table(cat, "public", "product_suppliers");
        col(t, "product_id", "int4", false, true);
        col(t, "supplier_id", "int4", false, true);
        mapping_catalog_add_unique(t, COLS("product_id", "supplier_id"), true);
        mapping_catalog_add_fkey(t, "fk_ps_p", COLS("product_id"), "public", "products", COLS("product_id"));
        mapping_catalog_add_fkey(t, "fk_ps_s", COLS("supplier_id"), "public", "suppliers", COLS("supplier_id"));

        t = mapping_catalog_add_table(cat, "public", "bundles");
        col(t, "bundle_id", "int4", false, true);
        c = col(t, "product_keys", "int4", true, false);
        c->comment = strdup("References public.products(product_id)");
        c = col(t, "gift_ids", "int4", true, false);
        c->comment = strdup("references gifts");
        mapping_catalog_add_unique(t, COLS("bundle_id"), true);
    } else {
        t = mapping_catalog_add_table(cat, "public", "carts");
        col(t, "cart_id", "int4", false, true);
        mapping_catalog_add_unique(t, COLS("cart_id"), true);

        t = mapping_catalog_add_table(cat, "public", "cart_items");
        col(t, "cart_id", "int4", false, true);
        col(t, "product_id", "int4", false, true);
        mapping_catalog_add_unique(t, COLS("cart_id", "product_id"), true);
        mapping_catalog_add_fkey(t, "fk_ci_c", COLS("cart_id"), "public", "carts", COLS("cart_id"));
        mapping_catalog_add_fkey(t, "fk_ci_p", COLS("product_id"), "public", "products", COLS("product_id"));

        t = mapping_catalog_add_table(cat, "public", "cart_item_notes");
        col(t, "note_id", "int4", false, true);
        col(t, "cart_id", "int4", false, false);
        col(t, "product_id", "int4", false, false);
        mapping_catalog_add_unique(t, COLS("note_id"), true);
        mapping_catalog_add_fkey(t, "fk_notes_items", COLS("cart_id", "product_id"), "public", "cart_items",
                                 COLS("cart_id", "product_id"));

        t = mapping_catalog_add_table(cat, "public", "reviews");
        col(t, "customer_id", "bpchar", false, true);
        col(t, "product_id", "int4", false, true);
        col(t, "moderator_id", "int2", false, false);
        mapping_catalog_add_unique(t, COLS("customer_id", "product_id"), true);
        mapping_catalog_add_fkey(t, "fk_r_c", COLS("customer_id"), "public", "customers", COLS("customer_id"));
        mapping_catalog_add_fkey(t, "fk_r_p", COLS("product_id"), "public", "products", COLS("product_id"));
        mapping_catalog_add_fkey(t, "fk_r_m", COLS("moderator_id"), "public", "employees", COLS("employee_id"));

        t = mapping_catalog_add_table(cat, "public", "coupons");
        col(t, "code", "text", false, true);
        col(t, "customer_email", "text", false, false);
        col(t, "legacy_customer", "varchar", false, false);
        mapping_catalog_add_unique(t, COLS("code"), true);
        mapping_catalog_add_fkey(t, "fk_coupon_email", COLS("customer_email"), "public", "customers", COLS("email"));
        mapping_catalog_add_fkey(t, "fk_coupon_legacy", COLS("legacy_customer"), "public", "customers",
                                 COLS("customer_id"));

        t = mapping_catalog_add_table(cat, "public", "payments");
        col(t, "paid_at", "float8", false, true); /* a float: never a key */
        col(t, "payment_id", "int4", false, true);
        col(t, "ref", "uuid", false, true);
        col(t, "alt", "uuid", false, true);
        mapping_catalog_add_unique(t, COLS("paid_at", "payment_id"), true);
        mapping_catalog_add_unique(t, COLS("ref"), false);
        mapping_catalog_add_unique(t, COLS("alt"), false);

        t = mapping_catalog_add_table(cat, "public", "events");
        col(t, "id", "int4", false, false);
        mapping_catalog_add_unique(t, COLS("id"), false);

        t = mapping_catalog_add_table(cat, "public", "logs");
        col(t, "msg", "text", false, false);

        t = mapping_catalog_add_table(cat, "public", "measurements");
        t->kind = 'p';
        col(t, "id", "int8", false, true);
        mapping_catalog_add_unique(t, COLS("id"), true);
        t = mapping_catalog_add_table(cat, "public", "measurements_2024");
        col(t, "id", "int8", false, true);
        mapping_catalog_add_unique(t, COLS("id"), true);
        t->parent_schema = strdup("public");
        t->parent_name = strdup("measurements");

        t = mapping_catalog_add_table(cat, "public", "spatial_ref_sys");
        col(t, "srid", "int4", false, true);
        mapping_catalog_add_unique(t, COLS("srid"), true);
        t->extension = strdup("postgis");

        t = mapping_catalog_add_table(cat, "public", "customer_list");
        t->kind = 'v';
        col(t, "customer_id", "bpchar", false, false);

        t = mapping_catalog_add_table(cat, "public", "sales");
        t->kind = 'm';
        col(t, "total", "numeric", false, false);

        t = mapping_catalog_add_table(cat, "public", "graph_sync_status");
        col(t, "entity_type", "text", false, true);
        col(t, "entity_id", "text", false, true);
        mapping_catalog_add_unique(t, COLS("entity_type", "entity_id"), true);

        t = mapping_catalog_add_table(cat, "public", "weird \"$name\"");
        col(t, "id", "int4", false, true);
        c = col(t, "x$y", "json", false, false);
        c = col(t, "yes", "numeric", false, false);
        sql_type(c, "numeric(3,0)");
        mapping_catalog_add_unique(t, COLS("id"), true);

        t = mapping_catalog_add_table(cat, "public", "raw");
        col(t, "id", "int4", false, true);
        col(t, "caf\xe9", "text", false, false); /* not UTF-8 (a SQL_ASCII database) */
        col(t, "note", "text", false, false);
        mapping_catalog_add_unique(t, COLS("id"), true);
        t = mapping_catalog_add_table(cat, "public", "raw\xff");
        col(t, "id", "int4", false, true);
        mapping_catalog_add_unique(t, COLS("id"), true);

        t = mapping_catalog_add_table(cat, "public", "on");
        col(t, "id", "int4", false, true);
        mapping_catalog_add_unique(t, COLS("id"), true);

        t = mapping_catalog_add_table(cat, "public", "b\xc3\xbc" "cher");
        col(t, "id", "int4", false, true);
        mapping_catalog_add_unique(t, COLS("id"), true);

        t = mapping_catalog_add_table(cat, "archive", "customers");
        col(t, "customer_id", "bpchar", false, true);
        mapping_catalog_add_unique(t, COLS("customer_id"), true);

        t = mapping_catalog_add_table(cat, "other", "gifts");
        col(t, "gift_id", "int4", false, true);
        mapping_catalog_add_unique(t, COLS("gift_id"), true);
    }
}

static const char *const SCHEMAS[] = {"public", "archive"};

static char *infer_text(const MappingCatalog *cat, const MappingInferOptions *o)
{
    P2nBuf b;
    p2n_buf_init(&b);
    P2nErr err;
    p2n_err_clear(&err);
    int rc = mapping_infer(cat, o, &b, &err);
    if (rc != 0)
        fail_msg("infer failed: %s", err.msg);
    p2n_buf_append(&b, "", 0);
    return p2n_buf_steal(&b);
}

/* Loads and resolves text against cat; fails the test with every problem. */
static Mapping *load_resolved(const char *text, const MappingCatalog *cat)
{
    Mapping *m = NULL;
    MappingDiags d = {0};
    P2nErr err;
    p2n_err_clear(&err);
    if (mapping_load_string(text, strlen(text), "inferred.yaml", no_env, NULL, &m, &d, &err) != 0 ||
        mapping_resolve(m, cat, &d, &err) != 0) {
        for (size_t i = 0; i < d.n; i++)
            print_error("%s\n", d.msgs[i]);
        print_error("%s\n", text);
        fail_msg("the inferred mapping is not accepted: %s", err.msg);
    }
    mapping_diags_free(&d);
    return m;
}

static const MappingEntity *need(const Mapping *m, const char *name, MappingEntityKind kind)
{
    const MappingEntity *e = mapping_entity_find(m, name);
    if (e == NULL)
        fail_msg("no entity \"%s\"", name);
    assert_int_equal(e->kind, kind);
    return e;
}

static const MappingRel *rel_of(const MappingEntity *e, const char *column)
{
    for (size_t i = 0; i < e->nrels; i++)
        if (strcmp(e->rels[i].column, column) == 0)
            return &e->rels[i];
    fail_msg("entity \"%s\" has no relationship on column \"%s\"", e->name, column);
    return NULL;
}

static const MappingColumn *prop_of(const MappingEntity *e, const char *column)
{
    for (size_t i = 0; i < e->ncols; i++)
        if (e->cols[i].property && strcmp(e->cols[i].column, column) == 0)
            return &e->cols[i];
    return NULL;
}

static void expect_in(const char *text, const char *what)
{
    if (strstr(text, what) == NULL)
        fail_msg("the mapping lacks \"%s\":\n%s", what, text);
}

static void test_infer_whole(void **state)
{
    (void)state;
    MappingCatalog cat;
    memset(&cat, 0, sizeof(cat));
    add_tables(&cat, 0);
    add_tables(&cat, 1);
    MappingInferOptions o;
    memset(&o, 0, sizeof(o));
    o.schemas = SCHEMAS;
    o.nschemas = 2;
    o.origin = "database \"shop\"";
    char *text = infer_text(&cat, &o);
    Mapping *m = load_resolved(text, &cat);

    /* nodes, keys, self-reference and foreign keys */
    const MappingEntity *e = need(m, "Customer", MAPPING_NODE);
    assert_string_equal(e->table, "customers");
    assert_int_equal(e->nkeys, 1);
    assert_string_equal(e->keys[0].s, "customer_id");
    e = need(m, "Employee", MAPPING_NODE);
    const MappingRel *r = rel_of(e, "reports_to");
    assert_string_equal(r->type, "REPORTS_TO");
    assert_string_equal(r->to_entity, "Employee");
    assert_false(r->incoming);
    /* a join table whose two ends are one entity */
    e = need(m, "EmployeeMentor", MAPPING_LINK);
    assert_string_equal(e->rel_type, "EMPLOYEE_MENTOR");
    assert_string_equal(e->from.entity, "Employee");
    assert_string_equal(e->from.column, "mentor_id");
    assert_string_equal(e->to.entity, "Employee");
    assert_int_equal(prop_of(e, "since")->conv, MAPPING_CONV_DATE);
    e = need(m, "Order", MAPPING_NODE);
    assert_string_equal(rel_of(e, "customer_id")->type, "CUSTOMER");
    assert_string_equal(rel_of(e, "customer_id")->to_entity, "Customer");
    assert_string_equal(rel_of(e, "employee_id")->type, "EMPLOYEE");
    assert_string_equal(rel_of(e, "ship_via")->type, "SHIP_VIA");
    assert_string_equal(rel_of(e, "ship_via")->to_entity, "Shipper");
    /* conversions */
    assert_int_equal(prop_of(e, "total")->conv, MAPPING_CONV_FLOAT);   /* numeric(10,2) */
    assert_int_equal(prop_of(e, "amounts")->conv, MAPPING_CONV_STRING); /* numeric(30,2)[] */
    assert_int_equal(prop_of(e, "prices")->conv, MAPPING_CONV_FLOAT);   /* numeric(5,2)[] */
    assert_int_equal(prop_of(e, "fee")->conv, MAPPING_CONV_STRING);     /* a domain over numeric */
    expect_in(text, "      fee: string  # money_amount (a numeric domain): kept exact as text (float may round)\n");
    assert_int_equal(prop_of(e, "meta")->conv, MAPPING_CONV_STRING);
    assert_null(prop_of(e, "customer_id")); /* read for the relationship */
    e = need(m, "Customer", MAPPING_NODE);
    assert_int_equal(prop_of(e, "balance")->conv, MAPPING_CONV_STRING); /* numeric without precision */
    assert_null(prop_of(e, "password_hash"));
    assert_string_equal(prop_of(e, "_p2n_note")->property, "p2n_note");
    expect_in(text, "  Customer:\n    # Who buys: one row a customer\n    table: customers\n");
    expect_in(text, "deleted_at looks like a soft delete");
    /* join tables */
    e = need(m, "OrderDetail", MAPPING_LINK);
    assert_string_equal(e->rel_type, "ORDER_DETAIL");
    assert_string_equal(e->from.entity, "Order");
    assert_string_equal(e->from.column, "order_id");
    assert_string_equal(e->to.entity, "Product");
    assert_int_equal(prop_of(e, "unit_price")->conv, MAPPING_CONV_STRING); /* numeric(20,4): > 15 digits */
    assert_non_null(prop_of(e, "quantity"));
    /* a column relationship of the same type between the same labels: the join table's type differs */
    e = need(m, "Product", MAPPING_NODE);
    assert_string_equal(rel_of(e, "product_supplier_id")->type, "PRODUCT_SUPPLIER");
    assert_string_equal(need(m, "ProductSupplier", MAPPING_LINK)->rel_type, "PRODUCT_SUPPLIER_2");
    /* arrays of keys: by name (tag_ids), by comment (product_keys); a weak match is only a comment */
    assert_string_equal(rel_of(e, "tag_ids")->type, "TAG");
    assert_string_equal(rel_of(e, "tag_ids")->to_entity, "Tag");
    for (size_t i = 0; i < e->nrels; i++)
        assert_string_not_equal(e->rels[i].column, "co_suppliers");
    expect_in(text, "# co_suppliers (int4[]) may hold keys of Supplier (table suppliers): if it does, add {type: "
                    "CO_SUPPLIER, column: co_suppliers, to: Supplier}");
    e = need(m, "Bundle", MAPPING_NODE);
    assert_string_equal(rel_of(e, "product_keys")->type, "PRODUCT");
    assert_string_equal(rel_of(e, "product_keys")->to_entity, "Product");
    expect_in(text, "not mapped: column gift_ids (int4[]): its comment says it references gifts, which is not selected");
    /* not join tables: referenced by a foreign key, or with another foreign key */
    e = need(m, "CartItem", MAPPING_NODE);
    assert_int_equal(e->nkeys, 2);
    expect_in(text, "keyed by two foreign keys but referenced by a foreign key: a node");
    e = need(m, "Review", MAPPING_NODE);
    assert_string_equal(rel_of(e, "moderator_id")->type, "MODERATOR");
    expect_in(text, "keyed by two foreign keys but it has others");
    /* foreign keys that cannot be relationships */
    expect_in(text, "# not mapped: foreign key fk_notes_items (cart_id, product_id) -> public.cart_items (cart_id, "
                    "product_id): a relationship needs a single-column key (it would be CART_ITEM)");
    expect_in(text, "# not mapped: foreign key fk_coupon_email (customer_email) -> public.customers (email): it "
                    "references public.customers (email), not its key (customer_id)");
    expect_in(text, "# not mapped: foreign key fk_coupon_legacy (legacy_customer) -> public.customers (customer_id): "
                    "the column has type varchar but the key of Customer has type character(5)");
    /* keys other than the primary key */
    e = need(m, "Payment", MAPPING_NODE);
    assert_string_equal(e->keys[0].s, "alt"); /* the smallest unique key, by name */
    expect_in(text, "the primary key (paid_at, payment_id) cannot be the key (paid_at has type float8, which "
                    "pg2neo does not take as a key): keyed by the unique key (alt)");
    /* skipped */
    expect_in(text, "  # skipped public.events: no primary key, and no unique key pg2neo can use (id may be NULL)\n");
    expect_in(text, "  # skipped public.logs: no primary key or unique key to identify its rows\n");
    expect_in(text, "  # skipped public.measurements_2024: a partition of public.measurements, whose entity holds its rows\n");
    expect_in(text, "  # skipped public.customer_list: a view");
    expect_in(text, "  # skipped public.sales: a materialized view");
    expect_in(text, "  # skipped public.graph_sync_status: pg2neo's own sync table\n");
    expect_in(text, "  # skipped public.spatial_ref_sys: a table of extension postgis (map it by hand if its rows "
                    "belong in the graph)\n");
    need(m, "Measurement", MAPPING_NODE);
    assert_null(mapping_entity_find(m, "Measurements2024"));
    assert_null(mapping_entity_find(m, "Log"));
    assert_null(mapping_entity_find(m, "CustomerList"));
    /* names that need quoting, and a second schema */
    e = need(m, "WeirdName", MAPPING_NODE);
    assert_string_equal(e->table, "weird \"$name\"");
    expect_in(text, "    table: \"weird \\\"$$name\\\"\"\n");
    assert_int_equal(prop_of(e, "x$y")->conv, MAPPING_CONV_STRING);
    assert_int_equal(prop_of(e, "yes")->conv, MAPPING_CONV_FLOAT);
    expect_in(text, "      \"yes\": float");
    /* a column name the file cannot hold: the others are listed */
    e = need(m, "Raw", MAPPING_NODE);
    assert_false(e->props_all);
    assert_non_null(prop_of(e, "note"));
    assert_non_null(prop_of(e, "id"));
    assert_int_equal(e->ncols, 2);
    expect_in(text, "    # a column name is not valid UTF-8 and cannot be written here: the other columns are listed\n"
                    "    properties: [note]\n");
    expect_in(text, "  # skipped public.raw\\xFF: its name is not valid UTF-8, which a mapping file cannot hold\n");
    need(m, "On", MAPPING_NODE);
    expect_in(text, "  \"On\":\n");
    need(m, "B\xc3\xbc" "cher", MAPPING_NODE);
    e = need(m, "ArchiveCustomer", MAPPING_NODE);
    assert_string_equal(e->schema, "archive");
    assert_string_equal(m->source_schema, "public");
    expect_in(text, "# A pg2neo mapping inferred from database \"shop\", schemas public, archive\n");

    /* the same catalog in another order gives the same text */
    MappingCatalog rev;
    memset(&rev, 0, sizeof(rev));
    add_tables(&rev, 1);
    add_tables(&rev, 0);
    for (size_t i = 0; i < rev.ntables / 2; i++) {
        MappingCatTable tmp = rev.tables[i];
        rev.tables[i] = rev.tables[rev.ntables - 1 - i];
        rev.tables[rev.ntables - 1 - i] = tmp;
    }
    char *again = infer_text(&rev, &o);
    assert_string_equal(again, text);
    free(again);
    mapping_catalog_free(&rev);

    mapping_free(m);
    free(text);
    mapping_catalog_free(&cat);
}

static void test_infer_selection(void **state)
{
    (void)state;
    MappingCatalog cat;
    memset(&cat, 0, sizeof(cat));
    add_tables(&cat, 0);
    add_tables(&cat, 1);
    MappingInferOptions o;
    memset(&o, 0, sizeof(o));
    o.schemas = SCHEMAS;
    o.nschemas = 1;
    /* two tables and a schema-qualified one, with a label prefix */
    static const char *const tables[] = {"orders", "customers", "other.gifts"};
    o.tables = tables;
    o.ntables = 3;
    o.label_prefix = "T_";
    char *text = infer_text(&cat, &o);
    Mapping *m = load_resolved(text, &cat);
    assert_int_equal(m->nentities, 3);
    const MappingEntity *e = need(m, "T_Order", MAPPING_NODE);
    assert_string_equal(rel_of(e, "customer_id")->to_entity, "T_Customer");
    assert_string_equal(need(m, "T_Gift", MAPPING_NODE)->schema, "other");
    expect_in(text, "# not mapped: foreign key fk_orders_employees (employee_id) -> public.employees (employee_id): "
                    "public.employees is not selected");
    mapping_free(m);
    free(text);

    /* errors */
    P2nBuf b;
    p2n_buf_init(&b);
    P2nErr err;
    p2n_err_clear(&err);
    static const char *const typo[] = {"ordres"};
    o.tables = typo;
    o.ntables = 1;
    assert_int_equal(mapping_infer(&cat, &o, &b, &err), P2N_ENOTFOUND);
    assert_string_equal(err.msg, "table \"ordres\" does not exist in schema \"public\" (did you mean \"orders\"?)");
    static const char *const nokey[] = {"logs", "customer_list"};
    o.tables = nokey;
    o.ntables = 2;
    assert_int_equal(mapping_infer(&cat, &o, &b, &err), P2N_ECONFIG);
    assert_non_null(strstr(err.msg, "no selected table can be an entity; public.customer_list: a view"));
    static const char *const none[] = {"nosuch"};
    o.schemas = none;
    o.ntables = 0;
    assert_int_equal(mapping_infer(&cat, &o, &b, &err), P2N_ENOTFOUND);
    assert_string_equal(err.msg, "schema \"nosuch\" has no table (or does not exist)");
    assert_int_equal(b.len, 0);
    p2n_buf_free(&b);
    mapping_catalog_free(&cat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_singular),
        cmocka_unit_test(test_label),
        cmocka_unit_test(test_rel_types),
        cmocka_unit_test(test_yaml_quoting),
        cmocka_unit_test(test_infer_whole),
        cmocka_unit_test(test_infer_selection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
