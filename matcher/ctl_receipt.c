/*
 * ctl_receipt.c -- `huellactl receipt verify FILE [--jwks FILE | --key PEM]`:
 * checks a receipt (acuse) offline, with nothing but the published key.
 *
 * --jwks takes the JWK set served at /.well-known/jwks.json (the key is
 * chosen by the receipt's kid); --key a PEM public or private key (the
 * default is the daemon's own var/keys/receipt-es256.pem).  Exit 0 and
 * the payload on stdout when the signature holds, 1 with the reason when
 * it does not, 2 on usage errors.
 */

#include <jansson.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "receipt.h"

static char *
read_text(const char *path)
{
    FILE    *f = fopen(path, "r");
    char    *buf;
    size_t   n;

    if (f == NULL) {
        return NULL;
    }
    buf = malloc(1 << 20);
    n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf == NULL) {
        return NULL;
    }
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'
                     || buf[n - 1] == ' '))
    {
        buf[--n] = '\0';
    }
    return buf;
}

static EVP_PKEY *
key_from_pem(const char *path)
{
    FILE      *f = fopen(path, "r");
    EVP_PKEY  *key;

    if (f == NULL) {
        return NULL;
    }
    key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    if (key == NULL) {
        rewind(f);
        key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    }
    fclose(f);
    return key;
}

/* The key of the set whose kid is `kid` (or the only one). */
static EVP_PKEY *
key_from_jwks(const char *path, const char *kid, char *err, size_t errlen)
{
    json_error_t  je;
    json_t       *set = json_load_file(path, 0, &je), *keys, *k, *chosen;
    const char   *id;
    size_t        i;
    EVP_PKEY     *key;

    keys = set ? json_object_get(set, "keys") : NULL;
    if (!json_is_array(keys)) {
        snprintf(err, errlen, "%s is not a JWK set", path);
        json_decref(set);
        return NULL;
    }
    chosen = json_array_size(keys) == 1 ? json_array_get(keys, 0) : NULL;
    json_array_foreach(keys, i, k) {
        if (json_unpack(k, "{s:s}", "kid", &id) == 0 && strcmp(id, kid) == 0)
        {
            chosen = k;
        }
    }
    if (chosen == NULL) {
        snprintf(err, errlen, "no key with kid %s in %s", kid, path);
        json_decref(set);
        return NULL;
    }
    key = receipt_key_from_jwk(chosen, err, errlen);
    json_decref(set);
    return key;
}

int
ctl_receipt(int argc, char **argv)
{
    const char  *file = NULL, *jwks = NULL;
    const char  *pem = "var/keys/receipt-es256.pem";
    char        *jws, kid[128] = "", err[256], *text;
    EVP_PKEY    *key;
    json_t      *payload, *hdr_probe;
    int          i, rc;

    if (argc < 3 || strcmp(argv[1], "verify") != 0) {
        fprintf(stderr, "usage: huellactl receipt verify FILE "
            "[--jwks FILE | --key PEM]\n");
        return 2;
    }
    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--jwks") == 0 && i + 1 < argc) {
            jwks = argv[++i];
        } else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
            pem = argv[++i];
        } else if (file == NULL && argv[i][0] != '-') {
            file = argv[i];
        } else {
            fprintf(stderr, "huellactl receipt: unexpected '%s'\n", argv[i]);
            return 2;
        }
    }
    if (file == NULL || (jws = read_text(file)) == NULL) {
        fprintf(stderr, "huellactl receipt: cannot read %s\n",
            file ? file : "(no file)");
        return 2;
    }
    /* The kid picks the key from a set; read it before verifying. */
    hdr_probe = NULL;
    if (jwks) {
        char     *dot = strchr(jws, '.');
        uint8_t   hb[2048];
        long      n = dot ? b64url_decode(jws, (size_t) (dot - jws), hb,
                              sizeof(hb)) : -1;
        const char *k;

        if (n > 0 && (hdr_probe = json_loadb((char *) hb, (size_t) n, 0,
                NULL)) != NULL && json_unpack(hdr_probe, "{s:s}", "kid", &k)
                == 0)
        {
            snprintf(kid, sizeof(kid), "%s", k);
        }
        json_decref(hdr_probe);
        key = key_from_jwks(jwks, kid, err, sizeof(err));
    } else {
        key = key_from_pem(pem);
        snprintf(err, sizeof(err), "cannot read a key from %s", pem);
    }
    if (key == NULL) {
        fprintf(stderr, "huellactl receipt: %s\n", err);
        free(jws);
        return 2;
    }
    rc = receipt_verify(jws, key, &payload, kid, sizeof(kid), err,
        sizeof(err));
    EVP_PKEY_free(key);
    free(jws);
    if (rc != 0) {
        printf("INVALID: %s\n", err);
        return 1;
    }
    text = json_dumps(payload, JSON_INDENT(2) | JSON_SORT_KEYS);
    printf("valid receipt (ES256, kid %s)\n%s\n", kid, text ? text : "");
    free(text);
    json_decref(payload);
    return 0;
}
