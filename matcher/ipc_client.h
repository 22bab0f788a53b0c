/*
 * ipc_client.h -- a blocking client of huellad's shared-memory link, for
 * huellactl, the benches and the tests (the nginx module has its own,
 * non-blocking client).  One client may be shared by several threads; each
 * call takes a free slot, so up to HIPC_SLOTS calls can be in flight.
 */

#ifndef HUELLA_IPC_CLIENT_H
#define HUELLA_IPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "huella_ipc.h"

struct hipc_client;

/* Connects and hands over a fresh region; NULL with a reason in err. */
struct hipc_client *hipc_client_connect(const char *socket_path,
    int timeout_ms, char *err, size_t errlen);

/* As above, announcing the given protocol version in the hello (tests).
 * *ack_status receives the server's answer (-1 when none came). */
struct hipc_client *hipc_client_connect_version(const char *socket_path,
    uint32_t version, int timeout_ms, int *ack_status, char *err,
    size_t errlen);

void hipc_client_close(struct hipc_client *c);

/* One request/reply.  Returns 0 with *status (enum hipc_status) and the
 * reply payload copied into rep (*rep_len bytes; EMSGSIZE if rep_cap is too
 * small), or -1 with errno: ETIMEDOUT (no reply within timeout_ms; the
 * slot is reclaimed when the late reply comes), EPIPE (huellad is gone:
 * the lifeline closed), EMSGSIZE (request larger than a slot).
 * The request carries deadline = now + timeout_ms. */
int hipc_client_call(struct hipc_client *c, uint16_t op, const void *req,
    size_t req_len, void *rep, size_t rep_cap, size_t *rep_len, int *status,
    int timeout_ms);

/* Tests: stamp this version into every message header from now on. */
void hipc_client_set_msg_version(struct hipc_client *c, uint16_t version);

/* Spin this long for a reply before sleeping in poll() (0 = never; the
 * benches use it to show the two-sided-spin floor). */
void hipc_client_set_spin(struct hipc_client *c, unsigned spin_us);

uint64_t hipc_client_server_pid(const struct hipc_client *c);
/* The lifeline socket: readable (EOF) once huellad is gone. */
int hipc_client_fd(const struct hipc_client *c);

const char *hipc_status_name(int status);

/* First field with tag in a flat TLV sequence: 1 found, 0 absent, -1
 * malformed. */
int hipc_find(const void *buf, size_t len, uint16_t tag,
    const uint8_t **data, uint32_t *n);

#endif /* HUELLA_IPC_CLIENT_H */
