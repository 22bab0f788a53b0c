/*
 * registry.c -- loads the registry TSV into a sorted array and answers the
 * cross-check of issue 4 (never silently accept a mismatch).
 */

#include "registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identifiers.h"
#include "password.h"

struct registry {
    struct registry_person  *people;
    size_t                   n, cap;
};

struct registry *
registry_empty(void)
{
    return calloc(1, sizeof(struct registry));
}

void
registry_free(struct registry *reg)
{
    if (reg) {
        free(reg->people);
        free(reg);
    }
}

size_t
registry_size(const struct registry *reg)
{
    return reg->n;
}

static int
person_cmp(const void *a, const void *b)
{
    return strcmp(((const struct registry_person *) a)->curp,
        ((const struct registry_person *) b)->curp);
}

static int
date_valid(const char *s)
{
    int  i;

    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') {
        return 0;
    }
    for (i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) {
            return 0;
        }
    }
    return 1;
}

/* Splits line at tabs into exactly n fields. */
static int
split_tabs(char *line, char **f, int n)
{
    int  i = 0;

    f[i++] = line;
    for (; *line; line++) {
        if (*line == '\t') {
            if (i == n) {
                return -1;
            }
            *line = '\0';
            f[i++] = line + 1;
        }
    }
    return i == n ? 0 : -1;
}

struct registry *
registry_load(const char *path, char *err, size_t errlen)
{
    struct registry         *reg = registry_empty();
    struct registry_person  *p;
    FILE                    *f;
    char                     line[1024], *fld[5];
    const char              *why;
    unsigned long            lineno = 0;
    size_t                   len, i;

    if (reg == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        registry_free(reg);
        return NULL;
    }
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
            snprintf(err, errlen, "%s:%lu: line too long", path, lineno);
            goto fail;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
            line[--len] = '\0';
        }
        if (len == 0 || line[0] == '#') {
            continue;
        }
        if (split_tabs(line, fld, 5) != 0) {
            snprintf(err, errlen, "%s:%lu: expected 5 tab-separated fields "
                "(CURP, name, birth date, sex, state)", path, lineno);
            goto fail;
        }
        why = id_curp_check(fld[0], strlen(fld[0]));
        if (why == NULL && (fld[1][0] == '\0' || strlen(fld[1]) >= 256)) {
            why = "the name must be 1 to 255 bytes";
        }
        if (why == NULL && !date_valid(fld[2])) {
            why = "the birth date must be YYYY-MM-DD";
        }
        if (why == NULL && (strlen(fld[3]) != 1 || !strchr("HMX", fld[3][0])))
        {
            why = "the sex must be H, M or X";
        }
        if (why == NULL && strlen(fld[4]) != 2) {
            why = "the state must be a two-letter code";
        }
        if (why) {
            snprintf(err, errlen, "%s:%lu: %s", path, lineno, why);
            goto fail;
        }
        if (reg->n == reg->cap) {
            size_t  cap = reg->cap ? reg->cap * 2 : 64;

            p = realloc(reg->people, cap * sizeof(*p));
            if (p == NULL) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto fail;
            }
            reg->people = p;
            reg->cap = cap;
        }
        p = &reg->people[reg->n++];
        memset(p, 0, sizeof(*p));
        memcpy(p->curp, fld[0], 18);
        snprintf(p->name, sizeof(p->name), "%s", fld[1]);
        memcpy(p->birth_date, fld[2], 10);
        p->sex = fld[3][0];
        memcpy(p->state, fld[4], 2);
    }
    fclose(f);
    if (reg->n) {
        qsort(reg->people, reg->n, sizeof(*reg->people), person_cmp);
    }
    for (i = 1; i < reg->n; i++) {
        if (strcmp(reg->people[i].curp, reg->people[i - 1].curp) == 0) {
            snprintf(err, errlen, "%s: CURP %s is listed twice", path,
                reg->people[i].curp);
            registry_free(reg);
            return NULL;
        }
    }
    return reg;

fail:
    fclose(f);
    registry_free(reg);
    return NULL;
}

const struct registry_person *
registry_find(const struct registry *reg, const char *curp)
{
    struct registry_person  key;

    if (reg->n == 0 || strlen(curp) != 18) {
        return NULL;
    }
    memcpy(key.curp, curp, 19);
    return bsearch(&key, reg->people, reg->n, sizeof(key), person_cmp);
}

/* Names compare as security answers do: case, accents, punctuation and
 * spacing aside ("José  PEREZ" == "Jose Pérez"). */
static int
names_equal(const char *a, const char *b)
{
    char  na[512], nb[512];

    if (password_answer_normalize(a, strlen(a), na, sizeof(na)) < 0
        || password_answer_normalize(b, strlen(b), nb, sizeof(nb)) < 0)
    {
        return strcmp(a, b) == 0;
    }
    return strcmp(na, nb) == 0;
}

enum registry_verdict
registry_check(const struct registry *reg, const char *curp,
    const char *name, struct registry_person *out, char *why, size_t whylen)
{
    const struct registry_person  *p = registry_find(reg, curp);
    char                           date[11];

    if (p == NULL) {
        snprintf(why, whylen, "CURP %s is not in the population registry",
            curp);
        return REGISTRY_ABSENT;
    }
    if (out) {
        *out = *p;
    }
    id_curp_birth_date(curp, date);
    if (strcmp(date, p->birth_date) != 0) {
        snprintf(why, whylen, "the registry records birth date %s, the CURP "
            "encodes %s", p->birth_date, date);
        return REGISTRY_MISMATCH;
    }
    if (p->sex != curp[10]) {
        snprintf(why, whylen, "the registry records sex %c, the CURP "
            "encodes %c", p->sex, curp[10]);
        return REGISTRY_MISMATCH;
    }
    if (memcmp(p->state, curp + 11, 2) != 0) {
        snprintf(why, whylen, "the registry records state %s, the CURP "
            "encodes %.2s", p->state, curp + 11);
        return REGISTRY_MISMATCH;
    }
    if (name && name[0] && !names_equal(name, p->name)) {
        snprintf(why, whylen, "the name given is not the one the registry "
            "records for this CURP");
        return REGISTRY_MISMATCH;
    }
    return REGISTRY_MATCH;
}
