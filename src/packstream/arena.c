/*
 * Bump allocator for decoded values: a record's whole value tree is freed at once by
 * ps_arena_reset(), so decoding costs one pointer bump per allocation and freeing costs nothing
 * per value. Blocks grow geometrically; reset keeps one block so a steady stream of records
 * settles into zero malloc calls.
 */
#include "packstream/packstream.h"

#include <stdlib.h>

struct PsArenaBlock {
    PsArenaBlock *next; /* older block */
    size_t size;        /* usable bytes after the header */
    size_t used;        /* bytes taken in this block */
};

#define ARENA_HDR (((sizeof(PsArenaBlock) + 15u) / 16u) * 16u)
#define ARENA_FIRST_BLOCK ((size_t)8 * 1024)
#define ARENA_MAX_GROWTH ((size_t)1 << 20) /* normal blocks stop doubling at 1 MiB */

static inline uint8_t *arena_block_data(PsArenaBlock *blk)
{
    return (uint8_t *)blk + ARENA_HDR;
}

void ps_arena_init(PsArena *a, size_t limit)
{
    a->head = NULL;
    a->used = 0;
    a->limit = limit;
}

void *ps_arena_alloc(PsArena *a, size_t n)
{
    if (n > SIZE_MAX - 64)
        return NULL;
    n = (n + 7u) & ~(size_t)7u;
    if (n == 0)
        n = 8;
    if (a->limit != 0 && n > a->limit - (a->used < a->limit ? a->used : a->limit))
        return NULL;
    PsArenaBlock *blk = a->head;
    if (blk == NULL || blk->size - blk->used < n) {
        size_t size = blk == NULL ? ARENA_FIRST_BLOCK : blk->size * 2;
        if (size > ARENA_MAX_GROWTH)
            size = ARENA_MAX_GROWTH;
        if (size < n)
            size = n; /* a big string gets a block of its own size */
        PsArenaBlock *nb = malloc(ARENA_HDR + size);
        if (nb == NULL)
            return NULL;
        nb->size = size;
        nb->used = 0;
        /* A block of its own for an oversize allocation goes behind the head, so the head's
         * remaining room stays in use for small values. */
        if (blk != NULL && size > ARENA_MAX_GROWTH && blk->size - blk->used >= 256) {
            nb->next = blk->next;
            blk->next = nb;
        } else {
            nb->next = blk;
            a->head = nb;
        }
        blk = nb;
    }
    void *p = arena_block_data(blk) + blk->used;
    blk->used += n;
    a->used += n;
    return p;
}

void ps_arena_reset(PsArena *a)
{
    /* Keep the largest normal-sized block; oversize ones (a 10 MB string) are returned. */
    PsArenaBlock *keep = NULL;
    for (PsArenaBlock *b = a->head; b != NULL; b = b->next)
        if (b->size <= ARENA_MAX_GROWTH && (keep == NULL || b->size > keep->size))
            keep = b;
    PsArenaBlock *b = a->head;
    while (b != NULL) {
        PsArenaBlock *next = b->next;
        if (b != keep)
            free(b);
        b = next;
    }
    if (keep != NULL) {
        keep->next = NULL;
        keep->used = 0;
    }
    a->head = keep;
    a->used = 0;
}

void ps_arena_free(PsArena *a)
{
    if (a == NULL)
        return;
    PsArenaBlock *b = a->head;
    while (b != NULL) {
        PsArenaBlock *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->used = 0;
}
