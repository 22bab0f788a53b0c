/*
 * huellactl.c -- the admin CLI's entry point: finds the subcommand and
 * hands over.  The subcommands live in ctl_*.c.
 */

#include <stdio.h>
#include <string.h>

#include "ctl.h"

struct ctl_command {
    const char  *name;
    int        (*run)(int argc, char **argv);
    const char  *usage;
};

static const struct ctl_command ctl_commands[] = {
    { "compare", ctl_compare,
      "compare [--format ansi378] PROBE CANDIDATE...\n"
      "                               one similarity score per candidate, one\n"
      "                               per line, in order (offline)" },
    { "synth", ctl_synth,
      "synth N OUTDIR               N synthetic templates + manifest.tsv" },
    { "import", ctl_import,
      "import DIR                   enroll DIR/manifest.tsv (or every .iso)" },
    { "stats", ctl_stats,
      "stats                        the daemon's counters" },
    { "ping", ctl_ping,
      "ping                         check that huellad answers" },
    { "backup", ctl_backup,
      "backup DEST                  hot copy of the LMDB environment" },
    { "efirma-sign", ctl_efirma_sign,
      "efirma-sign --cer C --key K --password-file P --nonce N\n"
      "                               sign an e.firma login challenge" },
    { "efirma-inspect", ctl_efirma_inspect,
      "efirma-inspect FILE.cer      what an e.firma certificate says" },
    { "audit", ctl_audit,
      "audit verify [--data DIR]    check the audit hash chain (exit 1 names\n"
      "                               the first altered or removed entry)" },
    { "receipt", ctl_receipt,
      "receipt verify FILE [--jwks F | --key PEM]\n"
      "                               check a receipt's signature offline" },
    { "device", ctl_device,
      "device keygen OUTDIR [--ed25519] | device sign --key K --keyid ID\n"
      "                               --method M --path P BODYFILE: a capture\n"
      "                               device's key pair, RFC 9421 headers" },
};

static void
usage(FILE *out)
{
    size_t  i;

    fprintf(out, "usage: huellactl COMMAND [ARGS] [--socket PATH]\n\n");
    for (i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++) {
        fprintf(out, "  %s\n", ctl_commands[i].usage);
    }
}

int
main(int argc, char **argv)
{
    size_t  i;

    if (argc < 2 || strcmp(argv[1], "-h") == 0
        || strcmp(argv[1], "--help") == 0)
    {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++) {
        if (strcmp(argv[1], ctl_commands[i].name) == 0) {
            return ctl_commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "huellactl: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
