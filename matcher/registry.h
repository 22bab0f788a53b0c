/*
 * registry.h -- the population registry huellad checks identities against
 * (a TSV file in config/ standing in for RENAPO, issue 4 item 2).
 *
 * Owns the file format and the cross-check rule.  One person a line:
 *   CURP <TAB> full name <TAB> birth date YYYY-MM-DD <TAB> sex H|M|X
 *   <TAB> state code (as in the CURP)
 * '#' lines and blank lines are skipped.  Loaded once at start, read-only
 * afterwards (any thread may look up).
 */

#ifndef HUELLA_REGISTRY_H
#define HUELLA_REGISTRY_H

#include <stddef.h>

struct registry;

struct registry_person {
    char  curp[19];
    char  name[256];
    char  birth_date[11];
    char  sex;
    char  state[3];
};

enum registry_verdict {
    REGISTRY_MATCH = 0,
    REGISTRY_ABSENT,           /* CURP not in the registry */
    REGISTRY_MISMATCH          /* recorded data disagrees with the CURP */
};

/* NULL with "FILE:LINE: reason" in err. */
struct registry *registry_load(const char *path, char *err, size_t errlen);
/* An empty registry (no file configured): every CURP is absent. */
struct registry *registry_empty(void);
void registry_free(struct registry *reg);
size_t registry_size(const struct registry *reg);

const struct registry_person *registry_find(const struct registry *reg,
    const char *curp);

/*
 * Cross-check a (valid) CURP: it must be recorded, and the recorded birth
 * date, sex and state must be those the CURP encodes; when `name` is given
 * it must be the recorded name (case, accents and spacing aside).  `why`
 * says what disagreed.  `out` (may be NULL) receives the record.
 */
enum registry_verdict registry_check(const struct registry *reg,
    const char *curp, const char *name, struct registry_person *out,
    char *why, size_t whylen);

#endif /* HUELLA_REGISTRY_H */
