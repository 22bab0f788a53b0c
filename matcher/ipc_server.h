/*
 * ipc_server.h -- huellad's end of the shared-memory link.
 */

#ifndef HUELLA_IPC_SERVER_H
#define HUELLA_IPC_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ops.h"

/* Binds the unix socket (replacing a stale one), starts the accept thread.
 * Needs ops_init() first.  0 or -1 + err. */
int ipc_server_start(const struct hd_config *cfg, char *err, size_t errlen);
/* Stops accepting and removes the socket; links already open keep being
 * served until the process exits. */
void ipc_server_stop(void);

/* Answers rq in its slot and rings the client's reply doorbell.  Safe from
 * any thread; a reply for a link that is gone, or for huellad's own
 * request (conn NULL), is dropped. */
void hd_reply(const struct hd_request *rq, int status, const void *payload,
    size_t len);

void hd_conn_ref(struct hd_conn *conn);
void hd_conn_unref(struct hd_conn *conn);

/* Links currently open. */
unsigned ipc_server_clients(void);

#endif /* HUELLA_IPC_SERVER_H */
