/*
 * identity.h -- huellad's identity ops (issue 4): what they share.
 *
 * Owns the identity runtime (registry, blocklist, trust store, Argon2
 * parameters and the cap on concurrent hashes), the strict decoding of
 * identity request fields into struct id_fields, the job that carries one
 * request from the ring thread to the worker pool and on to the writer,
 * the identity reply and the audit helper.  The ops themselves live in
 * accounts.c (accounts, passwords, recovery, roles), identity_efirma.c,
 * tokens.c and audit_ops.c.
 *
 * Threads (docs/ipc.md section 6): decoding and cheap lookups (TOKEN_CHECK,
 * ACCOUNT_GET, TOKEN_LIST, AUDIT_LIST, EFIRMA_INSPECT) run on the ring
 * thread; Argon2 and RSA run on the worker pool, at most
 * identity.max_concurrent_hashes hashes at once; every change, and every
 * audited failure, is written by the writer thread inside the same
 * transaction as its audit entry, and answered only after the durable
 * commit.
 */

#ifndef HUELLA_IDENTITY_H
#define HUELLA_IDENTITY_H

#include <lmdb.h>
#include <stdint.h>

#include "config.h"
#include "efirma.h"
#include "huella_ipc.h"
#include "identity_store.h"
#include "ops.h"
#include "password.h"

/* A writer status with this bit set commits the nested transaction even
 * though the reply is an error: a failed login must still count and be
 * audited. */
#define OPS_WRITE_KEEP  0x10000

#define ID_SECRET_MAX   (PASSWORD_MAX_BYTES + 1)
#define ID_NONCE_MAX    512
#define ID_TOKEN_MAX    256
#define ID_TARGET_MAX   1025
#define ID_CERT_MAX     16384

/* Decoded request fields, NUL-terminated copies (binary ones point into
 * the request payload, which lives as long as the request). */
struct id_fields {
    uint8_t         seen[16];                     /* bit per tag < 128 */
    char            curp[STORE_CURP_MAX];
    char            nss[STORE_NSS_MAX];
    char            email[IDS_EMAIL_MAX];
    char            name[STORE_NAME_MAX];
    char            matricula[IDS_MATRICULA_MAX];
    char            password[ID_SECRET_MAX];
    char            new_password[ID_SECRET_MAX];
    char            question[IDS_QUESTION_MAX];
    char            answer[ID_SECRET_MAX];
    char            user[256];
    char            roles[IDS_ROLES_MAX];
    char            account_rfc[IDS_RFC_MAX];
    char            nonce[ID_NONCE_MAX];
    char            token[ID_TOKEN_MAX];
    char            token_id[IDS_TOKEN_ID_MAX];
    char            client[IDS_CLIENT_MAX];
    char            actor[IDS_ACTOR_MAX];
    char            action[AUDIT_ACTION_MAX + 1];
    char            target[ID_TARGET_MAX];
    const uint8_t  *detail;
    uint32_t        detail_len;
    const uint8_t  *cert;
    uint32_t        cert_len;
    const uint8_t  *sig;
    uint32_t        sig_len;
    uint32_t        value;
};

int id_has(const struct id_fields *f, unsigned tag);

/* Decodes rq's payload; `allowed` and `required` are 0-terminated tag
 * lists.  0, or -1 with e filled (BAD_REQUEST or INVALID naming the
 * field). */
int id_decode(const struct hd_request *rq, const uint16_t *allowed,
    const uint16_t *required, struct id_fields *f, struct ops_err *e);

/* What a request carries from thread to thread (rq->prep). */
struct id_job {
    struct id_fields     f;
    int                  verdict;        /* enum id_verdict */
    struct ids_account   account;
    char                 new_hash[PASSWORD_HASH_MAX];
    char                 answer_hash[PASSWORD_HASH_MAX];
    char                 secret[ID_TOKEN_MAX];   /* token/nonce to hand out */
    uint8_t              secret_hash[32];
    struct efirma_info   info;
    enum efirma_status   efirma;
    struct ops_err        err;
    uint64_t             expires;
};

enum id_verdict {
    ID_V_NONE = 0,
    ID_V_MATCH,           /* the secret verified */
    ID_V_MISMATCH,        /* a known account, wrong secret */
    ID_V_UNKNOWN,         /* no such account (verify_nobody ran) */
    ID_V_REFUSED,         /* refused before verifying (locked) */
    ID_V_FAILED           /* err holds the reply */
};

/* Decodes into a fresh job; NULL after replying to rq with the error. */
struct id_job *id_job_new(struct hd_request *rq, const uint16_t *allowed,
    const uint16_t *required);
/* Hands rq (a ring-thread request) with its job to fn on the pool, or
 * straight to the writer (fn NULL).  Takes ownership of job. */
void id_dispatch(struct hd_request *rq, struct id_job *job,
    void (*fn)(void *arg, struct hd_thread *th));
/* From a pool thread: passes the job's request on to the writer. */
void id_to_writer(struct hd_request *rq);

/* The runtime (identity.c). */
struct id_runtime {
    const struct hd_identity_config  *cfg;
    struct registry                  *registry;
    struct password_blocklist        *blocklist;
    struct efirma_trust              *trust;
    struct password_params            params;
};

int identity_init(const struct hd_config *cfg, struct store *st, char *err,
    size_t errlen);
const struct id_runtime *id_rt(void);

/* Caps concurrent Argon2 work (memory = cap x m_cost). */
void id_hash_begin(void);
void id_hash_end(void);

/* A byte of the daemon's stored random secret (stable across restarts). */
uint8_t id_secret_byte(void);

uint64_t id_now(void);
int64_t id_now_ms(void);

/* Random URL-safe token: base64url of `bytes` random bytes. */
int id_random_token(char *out, size_t cap, size_t bytes);
void id_sha256(const void *data, size_t len, uint8_t out[32]);

/* The identity reply: CURP (if any), NAME, EMAIL, ROLES, ACCOUNT_RFC (if
 * bound), AUTH_METHOD. */
void id_put_identity(struct hipc_writer *w, const struct ids_account *a,
    const char *method);
/* PASSWORD_CHANGED in a login reply, when the account has one. */
void id_put_password_changed(struct hipc_writer *w,
    const struct ids_account *a);
/* Stamps a new password with the time now, in unix ms. */
void id_password_changed(struct ids_account *a);

/* Appends one audit entry inside txn; detail is built from the pairs
 * (key, value, ..., NULL) as a JSON object of strings. */
int id_audit(MDB_txn *txn, const char *actor, const char *action,
    const char *target, const char *client, ...)
    __attribute__((sentinel));

/* Role names: 0 and a canonical comma list, or -1. */
int id_roles_parse(const char *roles, char *canon, size_t cap);
int id_roles_has(const char *roles, const char *role);
/* Adds role to a canonical list. */
void id_roles_add(char *roles, size_t cap, const char *role);

/* Per-op entry points. */
void identity_handle(struct hd_request *rq, struct hd_thread *th);
int identity_write(struct hd_request *rq, MDB_txn *txn,
    struct hipc_writer *w);
/* After the durable commit, before the reply (writer thread). */
void identity_committed(struct hd_request *rq, int status);

/* accounts.c */
void accounts_handle(struct hd_request *rq, struct hd_thread *th);
int accounts_write(struct hd_request *rq, MDB_txn *txn,
    struct hipc_writer *w);
void accounts_committed(struct hd_request *rq, int status);
/* identity_efirma.c */
void efirma_ops_handle(struct hd_request *rq, struct hd_thread *th);
int efirma_ops_write(struct hd_request *rq, MDB_txn *txn,
    struct hipc_writer *w);
/* tokens.c */
void tokens_handle(struct hd_request *rq, struct hd_thread *th);
int tokens_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w);
int tokens_bootstrap(struct store *st, const char *path, char *err,
    size_t errlen);
/* audit_ops.c */
void audit_ops_handle(struct hd_request *rq, struct hd_thread *th);
int audit_ops_write(struct hd_request *rq, MDB_txn *txn,
    struct hipc_writer *w);

#endif /* HUELLA_IDENTITY_H */
