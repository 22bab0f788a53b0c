/*
 * identity.c -- the identity runtime and what every identity op shares
 * (see identity.h): field decoding, jobs, hashing cap, roles, audit.
 */

#include "identity.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <regex.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "identifiers.h"
#include "ipc_server.h"
#include "registry.h"
#include "search.h"
#include "writer.h"

static struct {
    struct id_runtime  rt;
    sem_t              hashes;
    regex_t            matricula;
    uint8_t            secret[32];
    int                ready;
} idg;

static const char *const role_names[] = {
    "worker", "supervisor", "employer_rep", "pensioner", "auditor", "admin"
};
#define ROLE_COUNT  (sizeof(role_names) / sizeof(role_names[0]))

const struct id_runtime *
id_rt(void)
{
    return &idg.rt;
}

uint64_t
id_now(void)
{
    return (uint64_t) time(NULL);
}

int64_t
id_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint8_t
id_secret_byte(void)
{
    return idg.secret[0];
}

void
id_hash_begin(void)
{
    while (sem_wait(&idg.hashes) != 0) {
        /* EINTR: try again */
    }
}

void
id_hash_end(void)
{
    sem_post(&idg.hashes);
}

void
id_sha256(const void *data, size_t len, uint8_t out[32])
{
    SHA256(data, len, out);
}

int
id_random_token(char *out, size_t cap, size_t bytes)
{
    uint8_t  raw[64];
    int      n, i;

    if (bytes > sizeof(raw) || cap < bytes * 2
        || getrandom(raw, bytes, 0) != (ssize_t) bytes)
    {
        return -1;
    }
    n = EVP_EncodeBlock((unsigned char *) out, raw, (int) bytes);
    /* base64 -> base64url without padding: safe in URLs and headers */
    for (i = 0; i < n; i++) {
        if (out[i] == '+') {
            out[i] = '-';
        } else if (out[i] == '/') {
            out[i] = '_';
        } else if (out[i] == '=') {
            out[i] = '\0';
            break;
        }
    }
    out[n] = '\0';
    return 0;
}

/* ---- roles ---------------------------------------------------------------- */

int
id_roles_parse(const char *roles, char *canon, size_t cap)
{
    unsigned     have = 0;
    size_t       i, len, at = 0;
    const char  *p = roles, *end;

    if (roles[0] == '\0') {
        return -1;
    }
    for (;;) {
        end = strchr(p, ',');
        len = end ? (size_t) (end - p) : strlen(p);
        for (i = 0; i < ROLE_COUNT; i++) {
            if (strlen(role_names[i]) == len
                && memcmp(role_names[i], p, len) == 0)
            {
                break;
            }
        }
        if (i == ROLE_COUNT || (have & (1u << i))) {
            return -1;
        }
        have |= 1u << i;
        if (end == NULL) {
            break;
        }
        p = end + 1;
    }
    canon[0] = '\0';
    for (i = 0; i < ROLE_COUNT; i++) {
        if (have & (1u << i)) {
            at += (size_t) snprintf(canon + at, cap > at ? cap - at : 0,
                "%s%s", at ? "," : "", role_names[i]);
        }
    }
    return at < cap ? 0 : -1;
}

int
id_roles_has(const char *roles, const char *role)
{
    size_t       len = strlen(role);
    const char  *p = roles;

    while ((p = strstr(p, role)) != NULL) {
        if ((p == roles || p[-1] == ',') && (p[len] == ',' || p[len] == 0)) {
            return 1;
        }
        p += len;
    }
    return 0;
}

void
id_roles_add(char *roles, size_t cap, const char *role)
{
    char  tmp[IDS_ROLES_MAX * 2];

    if (id_roles_has(roles, role)) {
        return;
    }
    snprintf(tmp, sizeof(tmp), "%s%s%s", roles, roles[0] ? "," : "", role);
    if (id_roles_parse(tmp, roles, cap) != 0) {
        snprintf(roles, cap, "%s", role);
    }
}

/* ---- errors and decoding -------------------------------------------------- */

int
id_has(const struct id_fields *f, unsigned tag)
{
    return ops_seen(f->seen, tag);
}

static const char *
tag_json(unsigned tag)
{
    switch (tag) {
    case HIPC_F_CURP: return "curp";
    case HIPC_F_NSS: return "nss";
    case HIPC_F_NAME: return "name";
    case HIPC_F_EMAIL: return "email";
    case HIPC_F_PASSWORD: return "password";
    case HIPC_F_NEW_PASSWORD: return "new_password";
    case HIPC_F_QUESTION: return "security_question";
    case HIPC_F_ANSWER: return "security_answer";
    case HIPC_F_USER: return "user";
    case HIPC_F_ROLES: return "roles";
    case HIPC_F_NONCE: return "nonce";
    case HIPC_F_CERT: return "certificate";
    case HIPC_F_SIGNATURE: return "signature";
    case HIPC_F_TOKEN: return "token";
    case HIPC_F_TOKEN_ID: return "token_id";
    case HIPC_F_ACCOUNT_RFC: return "account_rfc";
    case HIPC_F_CLIENT: return "client";
    case HIPC_F_ACTOR: return "actor";
    case HIPC_F_ACTION: return "action";
    case HIPC_F_TARGET: return "target";
    case HIPC_F_DETAIL: return "detail";
    case HIPC_F_MATRICULA: return "matricula";
    case HIPC_F_VALUE: return "limit";
    default: return "request";
    }
}

static int
copy_str(char *out, size_t cap, const uint8_t *d, uint32_t n)
{
    if (n >= cap || memchr(d, 0, n)) {
        return -1;
    }
    memcpy(out, d, n);
    out[n] = '\0';
    return 0;
}

/* Text fields: UTF-8 without control characters, min..max bytes. */
static int
take_text(struct ops_err *e, unsigned tag, const uint8_t *d, uint32_t n,
    uint32_t min, char *out, size_t cap)
{
    if (n < min || n >= cap || !ops_text_valid(d, n)) {
        return ops_fail(e, HIPC_ST_INVALID, "invalid_text", tag_json(tag),
            "%s must be %u to %zu bytes of UTF-8 text without control "
            "characters", tag_json(tag), min, cap - 1);
    }
    return copy_str(out, cap, d, n);
}

static int
take_secret(struct ops_err *e, unsigned tag, const uint8_t *d, uint32_t n,
    char *out)
{
    if (n > PASSWORD_MAX_BYTES || memchr(d, 0, n)) {
        return ops_fail(e, HIPC_ST_INVALID, tag == HIPC_F_ANSWER
            ? "invalid_answer" : "password_too_long", tag_json(tag),
            "%s is longer than %d bytes or holds a NUL", tag_json(tag),
            PASSWORD_MAX_BYTES);
    }
    return copy_str(out, ID_SECRET_MAX, d, n);
}

static int
decode_one(struct id_fields *f, unsigned tag, const uint8_t *d, uint32_t n,
    struct ops_err *e)
{
    const char  *why;
    char         canon[IDS_ROLES_MAX];

    switch (tag) {
    case HIPC_F_CURP:
        why = id_curp_check((const char *) d, n);
        if (why) {
            return ops_fail(e, HIPC_ST_INVALID, "invalid_curp", "curp", "%s",
                why);
        }
        return copy_str(f->curp, sizeof(f->curp), d, n);
    case HIPC_F_NSS:
        why = id_nss_check((const char *) d, n);
        if (why) {
            return ops_fail(e, HIPC_ST_INVALID, "invalid_nss", "nss", "%s",
                why);
        }
        return copy_str(f->nss, sizeof(f->nss), d, n);
    case HIPC_F_EMAIL:
        why = id_email_check((const char *) d, n);
        if (why) {
            return ops_fail(e, HIPC_ST_INVALID, "invalid_email", "email",
                "%s", why);
        }
        return copy_str(f->email, sizeof(f->email), d, n);
    case HIPC_F_NAME:
        return take_text(e, tag, d, n, 1, f->name, sizeof(f->name));
    case HIPC_F_MATRICULA:
        if (copy_str(f->matricula, sizeof(f->matricula), d, n) != 0
            || regexec(&idg.matricula, f->matricula, 0, NULL, 0) != 0)
        {
            return ops_fail(e, HIPC_ST_INVALID, "invalid_matricula",
                "matricula", "the matricula does not match the configured "
                "pattern %s", idg.rt.cfg->matricula_pattern);
        }
        return 0;
    case HIPC_F_PASSWORD:
        return take_secret(e, tag, d, n, f->password);
    case HIPC_F_NEW_PASSWORD:
        return take_secret(e, tag, d, n, f->new_password);
    case HIPC_F_ANSWER:
        return take_secret(e, tag, d, n, f->answer);
    case HIPC_F_QUESTION:
        if (take_text(e, tag, d, n, 3, f->question, sizeof(f->question))) {
            e->code = "invalid_question";
            return -1;
        }
        return 0;
    case HIPC_F_USER:
        if (take_text(e, tag, d, n, 1, f->user, sizeof(f->user)) != 0) {
            e->code = "invalid_user";
            return -1;
        }
        return 0;
    case HIPC_F_ROLES:
        if (copy_str(f->roles, sizeof(f->roles), d, n) != 0
            || id_roles_parse(f->roles, canon, sizeof(canon)) != 0)
        {
            return ops_fail(e, HIPC_ST_INVALID, "invalid_roles", "roles",
                "roles are a comma-separated list without repeats of: "
                "worker, supervisor, employer_rep, pensioner, auditor, "
                "admin");
        }
        memcpy(f->roles, canon, sizeof(canon));
        return 0;
    case HIPC_F_ACCOUNT_RFC:
        why = id_rfc_check((const char *) d, n);
        if (why) {
            return ops_fail(e, HIPC_ST_INVALID, "invalid_rfc", "account_rfc",
                "%s", why);
        }
        return copy_str(f->account_rfc, sizeof(f->account_rfc), d, n);
    case HIPC_F_NONCE:
        /* an empty or odd nonce is simply not one we issued */
        if (!ops_ascii_word(d, n)
            || copy_str(f->nonce, sizeof(f->nonce), d, n))
        {
            f->nonce[0] = '\0';
        }
        return 0;
    case HIPC_F_TOKEN:
        if (!ops_ascii_word(d, n)
            || copy_str(f->token, sizeof(f->token), d, n))
        {
            f->token[0] = '\0';     /* matches nothing */
        }
        return 0;
    case HIPC_F_TOKEN_ID:
        if (n == 0 || !ops_ascii_word(d, n)
            || copy_str(f->token_id, sizeof(f->token_id), d, n) != 0)
        {
            return ops_fail(e, HIPC_ST_INVALID, "invalid_token_id",
                "token_id", "a token id is 1 to %d printable characters",
                IDS_TOKEN_ID_MAX - 1);
        }
        return 0;
    case HIPC_F_CLIENT:
        if (!ops_ascii_word(d, n)
            || copy_str(f->client, sizeof(f->client), d, n) != 0)
        {
            return ops_fail(e, HIPC_ST_BAD_REQUEST, "invalid_client",
                "client", "CLIENT is a printable address of at most %d "
                "bytes", IDS_CLIENT_MAX - 1);
        }
        return 0;
    case HIPC_F_ACTOR:
        return take_text(e, tag, d, n, 1, f->actor, sizeof(f->actor));
    case HIPC_F_ACTION:
        if (n == 0 || n > AUDIT_ACTION_MAX
            || strspn(copy_str(f->action, sizeof(f->action), d, n) == 0
                      ? f->action : "", "abcdefghijklmnopqrstuvwxyz"
                      "0123456789_.") != n)
        {
            return ops_fail(e, HIPC_ST_INVALID, "invalid_action", "action",
                "an audit action is 1 to %d characters of a-z 0-9 _ .",
                AUDIT_ACTION_MAX);
        }
        return 0;
    case HIPC_F_TARGET:
        return take_text(e, tag, d, n, 0, f->target, sizeof(f->target));
    case HIPC_F_DETAIL:
        if (n > AUDIT_DETAIL_MAX - 1024 || !ops_text_valid(d, n)) {
            return ops_fail(e, HIPC_ST_INVALID, "invalid_detail", "detail",
                "detail is UTF-8 text (no control characters) of at most "
                "%d bytes", AUDIT_DETAIL_MAX - 1024);
        }
        f->detail = d;
        f->detail_len = n;
        return 0;
    case HIPC_F_CERT:
        if (n == 0 || n > ID_CERT_MAX) {
            return ops_fail(e, HIPC_ST_INVALID, "certificate_malformed",
                "certificate", "the certificate must be 1 to %d bytes of "
                "DER", ID_CERT_MAX);
        }
        f->cert = d;
        f->cert_len = n;
        return 0;
    case HIPC_F_SIGNATURE:
        if (n > EFIRMA_SIG_MAX) {
            return ops_fail(e, HIPC_ST_INVALID, "signature_invalid",
                "signature", "the signature is longer than %d bytes",
                EFIRMA_SIG_MAX);
        }
        f->sig = d;
        f->sig_len = n;
        return 0;
    case HIPC_F_VALUE:
        if (hipc_get_u32(d, n, &f->value) != 0) {
            return ops_fail(e, HIPC_ST_BAD_REQUEST, "malformed_field",
                "limit", "VALUE must be a 4-byte integer");
        }
        return 0;
    default:
        return ops_fail(e, HIPC_ST_BAD_REQUEST, "unexpected_field", NULL,
            "field tag %u is not part of this request", tag);
    }
}

/* decode_one() for ops_decode(); a field it refuses without saying why
 * (copy_str) is too long. */
static int
decode_field(void *arg, unsigned tag, const uint8_t *d, uint32_t n,
    struct ops_err *e)
{
    if (decode_one(arg, tag, d, n, e) != 0) {
        if (e->code == NULL) {
            ops_fail(e, HIPC_ST_INVALID, "invalid_field", tag_json(tag),
                "%s is too long", tag_json(tag));
        }
        return -1;
    }
    return 0;
}

int
id_decode(const struct hd_request *rq, const uint16_t *allowed,
    const uint16_t *required, struct id_fields *f, struct ops_err *e)
{
    memset(f, 0, sizeof(*f));
    return ops_decode(rq, allowed, required, f->seen, tag_json, decode_field,
        f, e);
}

/* ---- jobs ----------------------------------------------------------------- */

static void
job_free(void *p)
{
    struct id_job  *job = p;

    if (job) {
        /* secrets do not linger in freed memory */
        OPENSSL_cleanse(job, sizeof(*job));
        free(job);
    }
}

struct id_job *
id_job_new(struct hd_request *rq, const uint16_t *allowed,
    const uint16_t *required)
{
    struct id_job  *job = calloc(1, sizeof(*job));

    if (job == NULL) {
        ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
            "huellad is out of memory");
        return NULL;
    }
    job->err.code = NULL;
    if (id_decode(rq, allowed, required, &job->f, &job->err) != 0) {
        ops_reply_err(rq, &job->err);
        job_free(job);
        return NULL;
    }
    return job;
}

void
id_dispatch(struct hd_request *rq, struct id_job *job,
    void (*fn)(void *arg, struct hd_thread *th))
{
    struct hd_request  *copy = hd_request_dup(rq);

    if (copy == NULL) {
        job_free(job);
        ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
            "huellad is out of memory");
        return;
    }
    /* The job's binary fields point into the payload: repoint them into
     * the copy, which outlives the ring thread's buffer. */
    if (job->f.cert) {
        job->f.cert = copy->payload + (job->f.cert - rq->payload);
    }
    if (job->f.sig) {
        job->f.sig = copy->payload + (job->f.sig - rq->payload);
    }
    if (job->f.detail) {
        job->f.detail = copy->payload + (job->f.detail - rq->payload);
    }
    copy->prep = job;
    copy->prep_free = job_free;
    ops_dispatch(rq, copy, fn);
}

void
id_to_writer(struct hd_request *rq)
{
    writer_submit(rq);
}

/* ---- replies and audit ---------------------------------------------------- */

void
id_put_identity(struct hipc_writer *w, const struct ids_account *a,
    const char *method)
{
    if (a->curp[0]) {
        hipc_put_str(w, HIPC_F_CURP, a->curp);
    }
    hipc_put_str(w, HIPC_F_NAME, a->name);
    if (a->email[0]) {
        hipc_put_str(w, HIPC_F_EMAIL, a->email);
    }
    hipc_put_str(w, HIPC_F_ROLES, a->roles);
    if (a->account_rfc[0]) {
        hipc_put_str(w, HIPC_F_ACCOUNT_RFC, a->account_rfc);
    }
    hipc_put_str(w, HIPC_F_AUTH_METHOD, method);
}

/*
 * nginx ends, at a login, the account's sessions that proved the password
 * before this time: the purge that follows a change may never have run.
 */
void
id_put_password_changed(struct hipc_writer *w, const struct ids_account *a)
{
    if (a->password_changed) {
        hipc_put_u64(w, HIPC_F_PASSWORD_CHANGED, a->password_changed);
    }
}

void
id_password_changed(struct ids_account *a)
{
    /* nginx compares it with its own clock, the same CLOCK_REALTIME */
    a->password_changed = (uint64_t) id_now_ms();
}

static size_t
json_str(char *out, size_t cap, size_t at, const char *s)
{
    const unsigned char  *p = (const unsigned char *) s;

    if (at < cap) {
        out[at] = '"';
    }
    at++;
    for (; *p; p++) {
        if (*p == '"' || *p == '\\') {
            at += (size_t) snprintf(out + (at < cap ? at : cap),
                at < cap ? cap - at : 0, "\\%c", *p);
        } else if (*p < 0x20) {
            at += (size_t) snprintf(out + (at < cap ? at : cap),
                at < cap ? cap - at : 0, "\\u%04x", *p);
        } else {
            if (at < cap) {
                out[at] = (char) *p;
            }
            at++;
        }
    }
    if (at < cap) {
        out[at] = '"';
    }
    return at + 1;
}

int
id_audit(MDB_txn *txn, const char *actor, const char *action,
    const char *target, const char *client, ...)
{
    char         detail[2048];
    size_t       at = 0, cap = sizeof(detail) - 2;
    const char  *k, *v;
    va_list      ap;

    detail[at++] = '{';
    if (client && client[0]) {
        at = json_str(detail, cap, at, "client");
        detail[at < cap ? at : cap] = ':';
        at++;
        at = json_str(detail, cap, at, client);
    }
    va_start(ap, client);
    while ((k = va_arg(ap, const char *)) != NULL) {
        v = va_arg(ap, const char *);
        if (v == NULL) {
            continue;
        }
        if (at > 1 && at < cap) {
            detail[at] = ',';
        }
        at += at > 1;
        at = json_str(detail, cap, at, k);
        if (at < cap) {
            detail[at] = ':';
        }
        at++;
        at = json_str(detail, cap, at, v);
    }
    va_end(ap);
    if (at >= cap) {
        snprintf(detail, sizeof(detail), "{\"truncated\":\"1\"}");
    } else {
        detail[at++] = '}';
        detail[at] = '\0';
    }
    return ids_audit_append(ops_store(), txn, id_now_ms(), actor, action,
        target, detail, NULL);
}

/* ---- dispatch ------------------------------------------------------------- */

void
identity_handle(struct hd_request *rq, struct hd_thread *th)
{
    if (!idg.ready) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "identity_unavailable", NULL,
            "identity is not initialised");
        return;
    }
    switch (rq->op) {
    case HIPC_OP_EFIRMA_CHALLENGE:
    case HIPC_OP_EFIRMA_LOGIN:
    case HIPC_OP_EFIRMA_INSPECT:
        efirma_ops_handle(rq, th);
        break;
    case HIPC_OP_TOKEN_CREATE:
    case HIPC_OP_TOKEN_REVOKE:
    case HIPC_OP_TOKEN_CHECK:
    case HIPC_OP_TOKEN_LIST:
        tokens_handle(rq, th);
        break;
    case HIPC_OP_AUDIT_APPEND:
    case HIPC_OP_AUDIT_VERIFY:
    case HIPC_OP_AUDIT_LIST:
        audit_ops_handle(rq, th);
        break;
    default:
        accounts_handle(rq, th);
        break;
    }
}

int
identity_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    switch (rq->op) {
    case HIPC_OP_EFIRMA_CHALLENGE:
    case HIPC_OP_EFIRMA_LOGIN:
        return efirma_ops_write(rq, txn, w);
    case HIPC_OP_TOKEN_CREATE:
    case HIPC_OP_TOKEN_REVOKE:
        return tokens_write(rq, txn, w);
    case HIPC_OP_AUDIT_APPEND:
        return audit_ops_write(rq, txn, w);
    default:
        return accounts_write(rq, txn, w);
    }
}

void
identity_committed(struct hd_request *rq, int status)
{
    if (rq->op == HIPC_OP_RECOVERY_START) {
        accounts_committed(rq, status);
    }
}

int
identity_init(const struct hd_config *cfg, struct store *st, char *err,
    size_t errlen)
{
    const struct hd_identity_config  *ic = &cfg->identity;
    char                              why[512];
    unsigned                          i;

    idg.rt.cfg = ic;
    idg.rt.params.t_cost = ic->argon2_t_cost;
    idg.rt.params.m_cost_kib = ic->argon2_m_cost_kib;
    idg.rt.params.parallelism = ic->argon2_parallelism;
    if (password_params_check(&idg.rt.params, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "identity.argon2: %s", why);
        return -1;
    }
    if (regcomp(&idg.matricula, ic->matricula_pattern,
            REG_EXTENDED | REG_NOSUB) != 0)
    {
        snprintf(err, errlen, "identity.matricula_pattern: invalid regex");
        return -1;
    }
    idg.rt.registry = ic->registry_file[0]
        ? registry_load(ic->registry_file, why, sizeof(why))
        : registry_empty();
    if (idg.rt.registry == NULL) {
        snprintf(err, errlen, "identity.registry_file: %s", why);
        return -1;
    }
    if (ic->blocklist_file[0]) {
        idg.rt.blocklist = password_blocklist_load(ic->blocklist_file, why,
            sizeof(why));
        if (idg.rt.blocklist == NULL) {
            snprintf(err, errlen, "identity.password_blocklist: %s", why);
            return -1;
        }
    }
    idg.rt.trust = efirma_trust_new();
    if (idg.rt.trust == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (i = 0; i < ic->trusted_ca_count; i++) {
        if (efirma_trust_add_file(idg.rt.trust, ic->trusted_ca[i], why,
                sizeof(why)) != EFIRMA_OK)
        {
            snprintf(err, errlen, "identity.trusted_ca_files: %s: %s",
                ic->trusted_ca[i], why);
            return -1;
        }
    }
    if (sem_init(&idg.hashes, 0, ic->max_concurrent_hashes) != 0) {
        snprintf(err, errlen, "cannot create the hash semaphore");
        return -1;
    }
    {
        MDB_txn  *txn;

        if (store_write_begin(st, NULL, &txn) != 0
            || ids_secret(st, txn, idg.secret) != 0
            || mdb_txn_commit(txn) != 0)
        {
            snprintf(err, errlen, "cannot create the identity secret");
            return -1;
        }
    }
    if (ic->bootstrap_token_file[0]
        && tokens_bootstrap(st, ic->bootstrap_token_file, err, errlen) != 0)
    {
        return -1;
    }
    if (!ic->registry_file[0]) {
        fprintf(stderr, "huellad: identity.registry_file not configured: "
            "account creation refuses every CURP\n");
    }
    idg.ready = 1;
    return 0;
}
