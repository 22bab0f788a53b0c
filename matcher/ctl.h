/*
 * ctl.h -- huellactl's subcommands, one function each, dispatched by
 * huellactl.c.  Each returns the process exit status.
 */

#ifndef HUELLA_CTL_H
#define HUELLA_CTL_H

int ctl_compare(int argc, char **argv);   /* ctl_compare.c */
int ctl_synth(int argc, char **argv);     /* synth.c       */
int ctl_import(int argc, char **argv);    /* ctl_daemon.c  */
int ctl_stats(int argc, char **argv);     /* ctl_daemon.c  */
int ctl_backup(int argc, char **argv);    /* ctl_daemon.c  */
int ctl_ping(int argc, char **argv);      /* ctl_daemon.c  */
int ctl_efirma_sign(int argc, char **argv);    /* ctl_efirma.c */
int ctl_efirma_inspect(int argc, char **argv); /* ctl_efirma.c */
int ctl_audit(int argc, char **argv);     /* ctl_audit.c   */
int ctl_receipt(int argc, char **argv);   /* ctl_receipt.c */
int ctl_device(int argc, char **argv);    /* ctl_device.c  */

#endif /* HUELLA_CTL_H */
