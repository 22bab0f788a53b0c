/*
 * ctl_device.c -- a capture device simulator (docs/devices.md):
 *
 *   huellactl device keygen OUTDIR [--ed25519]
 *       OUTDIR/device.key (PKCS#8 PEM, 0600) and OUTDIR/device.pub (the
 *       SubjectPublicKeyInfo PEM to register); ECDSA P-256 by default.
 *
 *   huellactl device sign --key K --keyid ID --method M --path P
 *       [--nonce N] [--created T] [--label L] [--base] BODYFILE
 *       prints the Content-Digest, Signature-Input and Signature headers
 *       of an RFC 9421 signature over "@method", "@path" and
 *       "content-digest" (RFC 9530 sha-256), exactly as a device sends
 *       them; --base also prints the signature base to stderr.  ES256
 *       signatures are r||s (64 bytes, RFC 9421 section 3.3.4).
 *
 * Exit 0 on success, 1 on failure, 2 on usage errors.
 */

#include <errno.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include "ctl.h"

#define DEVICE_BODY_MAX  (16u << 20)

static int
device_usage(void)
{
    fprintf(stderr,
            "usage: huellactl device keygen OUTDIR [--ed25519]\n"
            "       huellactl device sign --key K --keyid ID --method M "
            "--path P\n"
            "                 [--nonce N] [--created T] [--label L] [--base]"
            " BODYFILE\n");
    return 2;
}

static char *
b64(const unsigned char *data, size_t len, int url)
{
    char    *out = malloc(4 * ((len + 2) / 3) + 1);
    size_t   i, n;

    if (out == NULL) {
        return NULL;
    }
    n = (size_t) EVP_EncodeBlock((unsigned char *) out, data, (int) len);
    out[n] = '\0';
    if (url) {
        for (i = 0; i < n; i++) {
            if (out[i] == '+') {
                out[i] = '-';
            } else if (out[i] == '/') {
                out[i] = '_';
            }
        }
        while (n > 0 && out[n - 1] == '=') {
            out[--n] = '\0';
        }
    }
    return out;
}

static int
keygen(int argc, char **argv)
{
    const char  *dir = NULL;
    char         path[4096];
    int          ed25519 = 0, i, fd, rc = 1;
    FILE        *f;
    EVP_PKEY    *key = NULL;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ed25519") == 0) {
            ed25519 = 1;
        } else if (argv[i][0] == '-' || dir) {
            return device_usage();
        } else {
            dir = argv[i];
        }
    }
    if (dir == NULL) {
        return device_usage();
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "huellactl: %s: %s\n", dir, strerror(errno));
        return 1;
    }

    key = ed25519 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
                  : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (key == NULL) {
        fprintf(stderr, "huellactl: key generation failed\n");
        return 1;
    }

    snprintf(path, sizeof(path), "%s/device.key", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0 || (f = fdopen(fd, "w")) == NULL) {
        fprintf(stderr, "huellactl: %s: %s\n", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        goto done;
    }
    if (!PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)) {
        fclose(f);
        goto done;
    }
    fclose(f);

    snprintf(path, sizeof(path), "%s/device.pub", dir);
    f = fopen(path, "w");
    if (f == NULL || !PEM_write_PUBKEY(f, key)) {
        fprintf(stderr, "huellactl: %s: cannot write\n", path);
        if (f) {
            fclose(f);
        }
        goto done;
    }
    fclose(f);

    printf("%s/device.key\n%s/device.pub\n", dir, dir);
    rc = 0;

done:
    EVP_PKEY_free(key);
    return rc;
}

static unsigned char *
read_body(const char *path, size_t *len)
{
    FILE           *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    unsigned char  *buf;
    size_t          n = 0, r;

    if (f == NULL) {
        return NULL;
    }
    buf = malloc(DEVICE_BODY_MAX);
    while (buf && (r = fread(buf + n, 1, DEVICE_BODY_MAX - n, f)) > 0) {
        n += r;
    }
    if (f != stdin) {
        fclose(f);
    }
    *len = n;
    return buf;
}

/* a structured-field string may hold 0x20..0x7e, '"' and '\' escaped */
static int
sf_string_ok(const char *s)
{
    for (; *s; s++) {
        if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\') {
            return 0;
        }
    }
    return 1;
}

/* the signature, raw: r||s for P-256, 64 bytes for Ed25519 */
static int
sign_base(EVP_PKEY *key, const char *base, unsigned char *sig, size_t *len)
{
    EVP_MD_CTX       *md = EVP_MD_CTX_new();
    unsigned char     der[128];
    const unsigned char *p = der;
    size_t            dlen = sizeof(der);
    ECDSA_SIG        *es = NULL;
    const BIGNUM     *r, *s;
    int               ok = 0, ec = EVP_PKEY_get_base_id(key) == EVP_PKEY_EC;

    if (md == NULL
        || EVP_DigestSignInit(md, NULL, ec ? EVP_sha256() : NULL, NULL, key)
           != 1
        || EVP_DigestSign(md, ec ? der : sig, ec ? &dlen : len,
                          (const unsigned char *) base, strlen(base)) != 1)
    {
        goto done;
    }
    if (!ec) {
        ok = 1;
        goto done;
    }
    es = d2i_ECDSA_SIG(NULL, &p, (long) dlen);
    if (es == NULL) {
        goto done;
    }
    ECDSA_SIG_get0(es, &r, &s);
    if (BN_bn2binpad(r, sig, 32) != 32 || BN_bn2binpad(s, sig + 32, 32) != 32)
    {
        goto done;
    }
    *len = 64;
    ok = 1;

done:
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    return ok;
}

static int
sign(int argc, char **argv)
{
    const char     *keyf = NULL, *keyid = NULL, *method = NULL, *path = NULL;
    const char     *nonce = NULL, *created_s = NULL, *bodyf = NULL;
    const char     *label = "sig1", *alg;
    char           *digest_b64 = NULL, *sig_b64 = NULL, *nonce_b64 = NULL;
    char           *base = NULL, params[1024], digest[128];
    unsigned char  *body = NULL, hash[SHA256_DIGEST_LENGTH], rnd[16];
    unsigned char   sig[128];
    size_t          body_len = 0, sig_len = sizeof(sig), base_len;
    long long       created;
    int             i, show_base = 0, rc = 1;
    FILE           *f;
    EVP_PKEY       *key = NULL;
    char           *end;

    for (i = 1; i < argc; i++) {
        const char **opt = NULL;

        if (strcmp(argv[i], "--key") == 0) {
            opt = &keyf;
        } else if (strcmp(argv[i], "--keyid") == 0) {
            opt = &keyid;
        } else if (strcmp(argv[i], "--method") == 0) {
            opt = &method;
        } else if (strcmp(argv[i], "--path") == 0) {
            opt = &path;
        } else if (strcmp(argv[i], "--nonce") == 0) {
            opt = &nonce;
        } else if (strcmp(argv[i], "--created") == 0) {
            opt = &created_s;
        } else if (strcmp(argv[i], "--label") == 0) {
            opt = &label;
        } else if (strcmp(argv[i], "--base") == 0) {
            show_base = 1;
            continue;
        } else if ((argv[i][0] == '-' && argv[i][1] != '\0') || bodyf) {
            return device_usage();
        } else {
            bodyf = argv[i];
            continue;
        }
        if (i + 1 >= argc) {
            return device_usage();
        }
        *opt = argv[++i];
    }
    if (!keyf || !keyid || !method || !path || !bodyf) {
        return device_usage();
    }
    if (!sf_string_ok(keyid) || (nonce && !sf_string_ok(nonce))) {
        fprintf(stderr, "huellactl: keyid and nonce must be printable "
                        "ASCII without '\"' or '\\'\n");
        return 2;
    }

    created = (long long) time(NULL);
    if (created_s) {
        errno = 0;
        created = strtoll(created_s, &end, 10);
        if (errno || *end || end == created_s) {
            return device_usage();
        }
    }

    f = fopen(keyf, "r");
    if (f == NULL) {
        fprintf(stderr, "huellactl: %s: %s\n", keyf, strerror(errno));
        return 1;
    }
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (key == NULL) {
        fprintf(stderr, "huellactl: %s: not a PEM private key\n", keyf);
        return 1;
    }
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
        alg = "ecdsa-p256-sha256";
    } else if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) {
        alg = "ed25519";
    } else {
        fprintf(stderr, "huellactl: the key must be P-256 or Ed25519\n");
        goto done;
    }

    body = read_body(bodyf, &body_len);
    if (body == NULL) {
        fprintf(stderr, "huellactl: %s: cannot read\n", bodyf);
        goto done;
    }

    SHA256(body, body_len, hash);
    digest_b64 = b64(hash, sizeof(hash), 0);

    if (nonce == NULL) {
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            goto done;
        }
        nonce_b64 = b64(rnd, sizeof(rnd), 1);
        nonce = nonce_b64;
    }
    if (digest_b64 == NULL || nonce == NULL) {
        goto done;
    }

    snprintf(digest, sizeof(digest), "sha-256=:%s:", digest_b64);
    snprintf(params, sizeof(params),
             "(\"@method\" \"@path\" \"content-digest\");created=%lld"
             ";keyid=\"%s\";nonce=\"%s\";alg=\"%s\"",
             created, keyid, nonce, alg);

    base_len = strlen(method) + strlen(path) + strlen(digest)
               + strlen(params) + 128;
    base = malloc(base_len);
    if (base == NULL) {
        goto done;
    }
    snprintf(base, base_len,
             "\"@method\": %s\n\"@path\": %s\n\"content-digest\": %s\n"
             "\"@signature-params\": %s", method, path, digest, params);

    if (!sign_base(key, base, sig, &sig_len)) {
        fprintf(stderr, "huellactl: signing failed\n");
        goto done;
    }
    sig_b64 = b64(sig, sig_len, 0);
    if (sig_b64 == NULL) {
        goto done;
    }

    if (show_base) {
        fprintf(stderr, "%s\n", base);
    }
    printf("Content-Digest: %s\n", digest);
    printf("Signature-Input: %s=%s\n", label, params);
    printf("Signature: %s=:%s:\n", label, sig_b64);
    rc = 0;

done:
    free(base);
    free(body);
    free(digest_b64);
    free(sig_b64);
    free(nonce_b64);
    EVP_PKEY_free(key);
    return rc;
}

int
ctl_device(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "keygen") == 0) {
        return keygen(argc - 1, argv + 1);
    }
    if (argc >= 2 && strcmp(argv[1], "sign") == 0) {
        return sign(argc - 1, argv + 1);
    }
    return device_usage();
}
