/*
 * writer.h -- the single LMDB writer thread and its group commit.
 */

#ifndef HUELLA_WRITER_H
#define HUELLA_WRITER_H

#include "ops.h"

int writer_start(struct store *st, char *err, size_t errlen);
/* Takes ownership of rq (a hd_request_dup() copy with its prep). */
void writer_submit(struct hd_request *rq);
/* Commits and answers everything queued, then joins the thread. */
void writer_stop(void);

#endif /* HUELLA_WRITER_H */
