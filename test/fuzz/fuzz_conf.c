/* fuzz_conf: libFuzzer target for the ssh_config parser (src/conf.c).
 *
 * The input is a user config file for host "fuzzhost"; its first line is
 * also applied first as if given with -o. Then conf_finish() and
 * conf_dump() run over whatever was read.
 *
 * conf.c does two things a fuzzer must not: "Match exec" runs /bin/sh -c
 * and "Include" reads whatever files a glob names (/dev/zero never ends).
 * include/rfs/conf.h has no hook to turn either off, so this file, linked
 * before glib and libc, supplies its own g_spawn_sync() and glob(): exec
 * runs nothing and "exits" with a status derived from the command text
 * (0, 1, killed, or a spawn error, to reach every branch); a pattern
 * whose last part contains "inc" names one fixed in-memory file, any
 * other matches nothing. The exec family aborts if anything reaches it,
 * and LLVMFuzzerInitialize() checks that both stand-ins are really used,
 * so a change in conf.c cannot make this target start running commands.
 *
 * Found and fixed: match_pattern() in conf.c backtracked exponentially
 * in the number of '*' in one pattern (as OpenSSH's does); it now shares
 * util_glob_match(), linear. crashes/fuzz_conf-match-pattern-exponential
 * is kept as a seed: it must run in microseconds.
 */
#include <glob.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>

#include <glib.h>

#include "rfs/conf.h"
#include "fuzz_common.h"


static int input_fd, inc_fd;
static char input_path[64], inc_path[64];
static unsigned long n_spawn, n_glob;

/* The file every matching Include pattern names. No Include in it, so
 * nesting stays one level deep. */
static const char inc_text[] =
	"Host fuzz*\n"
	"  Port 2200\n"
	"  IdentityFile %d/inc_%r\n"
	"Match host real.example\n"
	"  User included\n";

/* ---- stand-ins for what conf.c may not do here -------------------------- */

gboolean g_spawn_sync(const gchar *wd, gchar **argv, gchar **envp,
		      GSpawnFlags flags, GSpawnChildSetupFunc setup,
		      gpointer data, gchar **out, gchar **errout,
		      gint *status, GError **error)
{
	unsigned sum = 0;
	const char *cmd;

	(void)wd;
	(void)envp;
	(void)flags;
	(void)setup;
	(void)data;
	n_spawn++;
	FUZZ_ASSERT(argv != NULL && argv[0] != NULL);
	for (cmd = argv[0]; argv[1] != NULL; argv++)
		cmd = argv[1];
	for (; *cmd; cmd++)
		sum += (unsigned char)*cmd;
	if (out)
		*out = NULL;
	if (errout)
		*errout = NULL;
	switch (sum % 4) {
	case 0:		/* "true" lands here */
		*status = 0;
		return TRUE;
	case 1:
		*status = 1 << 8;	/* exit 1 */
		return TRUE;
	case 2:
		*status = SIGKILL;	/* killed */
		return TRUE;
	default:
		g_set_error(error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED,
			    "fuzz: spawning is disabled");
		return FALSE;
	}
}

static int fake_glob(const char *pattern, size_t *pathc, char ***pathv)
{
	const char *base = strrchr(pattern, '/');

	n_glob++;
	*pathc = 0;
	*pathv = NULL;
	if (strstr(base != NULL ? base : pattern, "inc") == NULL)
		return GLOB_NOMATCH;
	*pathv = calloc(2, sizeof(char *));
	FUZZ_ASSERT(*pathv != NULL);
	(*pathv)[0] = strdup(inc_path);
	*pathc = 1;
	return 0;
}

static void fake_globfree(char **pathv)
{
	if (pathv != NULL)
		free(pathv[0]);
	free(pathv);
}

/* glob() and glob64() by their symbol names: <glob.h> turns glob into
 * glob64 under -D_FILE_OFFSET_BITS=64, as meson builds, and this must
 * stand in for both whatever conf.c was compiled with. The two structs
 * agree in the fields used here. */
int fuzz_glob(const char *pattern, int flags,
	      int (*errfunc)(const char *, int), glob_t *g) __asm__("glob");
int fuzz_glob64(const char *pattern, int flags,
		int (*errfunc)(const char *, int), glob64_t *g)
	__asm__("glob64");
void fuzz_globfree(glob_t *g) __asm__("globfree");
void fuzz_globfree64(glob64_t *g) __asm__("globfree64");

int fuzz_glob(const char *pattern, int flags,
	      int (*errfunc)(const char *, int), glob_t *g)
{
	(void)flags;
	(void)errfunc;
	memset(g, 0, sizeof(*g));
	return fake_glob(pattern, &g->gl_pathc, &g->gl_pathv);
}

int fuzz_glob64(const char *pattern, int flags,
		int (*errfunc)(const char *, int), glob64_t *g)
{
	(void)flags;
	(void)errfunc;
	memset(g, 0, sizeof(*g));
	return fake_glob(pattern, &g->gl_pathc, &g->gl_pathv);
}

void fuzz_globfree(glob_t *g)
{
	fake_globfree(g->gl_pathv);
	memset(g, 0, sizeof(*g));
}

void fuzz_globfree64(glob64_t *g)
{
	fake_globfree(g->gl_pathv);
	memset(g, 0, sizeof(*g));
}

static G_GNUC_NORETURN void trip(const char *fn)
{
	fprintf(stderr, "fuzz_conf: %s() called: the code under test tried "
		"to run a program; refusing\n", fn);
	abort();
}

int execve(const char *p, char *const a[], char *const e[])
{
	(void)p, (void)a, (void)e;
	trip("execve");
}

int execv(const char *p, char *const a[])
{
	(void)p, (void)a;
	trip("execv");
}

int execvp(const char *p, char *const a[])
{
	(void)p, (void)a;
	trip("execvp");
}

int execvpe(const char *p, char *const a[], char *const e[])
{
	(void)p, (void)a, (void)e;
	trip("execvpe");
}

int execl(const char *p, const char *a, ...)
{
	(void)p, (void)a;
	trip("execl");
}

int execlp(const char *p, const char *a, ...)
{
	(void)p, (void)a;
	trip("execlp");
}

int posix_spawn(pid_t *pid, const char *p,
		const posix_spawn_file_actions_t *fa,
		const posix_spawnattr_t *at, char *const a[],
		char *const e[])
{
	(void)pid, (void)p, (void)fa, (void)at, (void)a, (void)e;
	trip("posix_spawn");
}

int posix_spawnp(pid_t *pid, const char *p,
		 const posix_spawn_file_actions_t *fa,
		 const posix_spawnattr_t *at, char *const a[],
		 char *const e[])
{
	(void)pid, (void)p, (void)fa, (void)at, (void)a, (void)e;
	trip("posix_spawnp");
}

/* ---- the target --------------------------------------------------------- */

/* Parse the input as a config file, after applying option (may be NULL)
 * as -o. Returns 0 when read, finish and dump all succeeded. */
static int run_conf(const char *option)
{
	struct conf *c = conf_new("fuzzhost");
	GError *err = NULL;
	char *dump;
	int r;

	if (option != NULL) {
		r = conf_set_option(c, option, &err);
		FUZZ_ASSERT((r == 0) == (err == NULL));
		g_clear_error(&err);
	}
	r = conf_read_files(c, input_path, "none", &err);
	FUZZ_ASSERT((r == 0) == (err == NULL));
	if (r == 0) {
		r = conf_finish(c, &err);
		FUZZ_ASSERT((r == 0) == (err == NULL));
	}
	if (r == 0) {
		FUZZ_ASSERT(c->finished);
		FUZZ_ASSERT(c->port >= 1 && c->port <= 65535);
		FUZZ_ASSERT(c->hostname != NULL && c->user != NULL);
		/* a second call does nothing */
		FUZZ_ASSERT(conf_finish(c, NULL) == 0);
		dump = conf_dump(c, NULL);
		FUZZ_ASSERT(dump != NULL && strstr(dump, "port ") != NULL);
		g_free(dump);
		(void)conf_agent_socket(c);
	}
	g_clear_error(&err);
	conf_free(c);
	return r;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char probe[] =
		"Match exec true\n"
		"  Include probe.inc\n";
	struct conf *c;

	(void)argc;
	(void)argv;
	/* "~" and %d: a home that does not exist, so nothing is read there
	 * even if the glob stand-in were bypassed */
	conf_set_home_for_tests("/nonexistent/rfs-fuzz-home");
	setenv("FUZZ_VAR", "var", 1);
	setenv("FUZZ_SOCK", "/tmp/fuzz-agent.sock", 1);
	setenv("SSH_AUTH_SOCK", "/tmp/fuzz-ssh-agent.sock", 1);
	input_fd = fuzz_memfd("fuzz_conf", input_path, sizeof(input_path));
	inc_fd = fuzz_memfd("fuzz_conf_inc", inc_path, sizeof(inc_path));
	fuzz_memfd_set(inc_fd, inc_text, sizeof(inc_text) - 1);

	/* Prove the stand-ins are what conf.c calls. */
	fuzz_memfd_set(input_fd, probe, sizeof(probe) - 1);
	c = conf_new("fuzzhost");
	if (conf_read_files(c, input_path, "none", NULL) != 0 ||
	    n_spawn != 1 || n_glob != 1 || c->port != 2200) {
		fprintf(stderr, "fuzz_conf: self-check failed (spawn %lu, glob "
			"%lu, port %d): conf.c no longer runs Match exec "
			"through g_spawn_sync() or Include through glob(); "
			"update the stand-ins in %s\n", n_spawn, n_glob,
			c->port, __FILE__);
		abort();
	}
	conf_free(c);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char *line, *kw;

	line = g_strndup((const char *)data,
			 nl != NULL ? (size_t)(nl - data) : size);
	fuzz_memfd_set(input_fd, data, size);
	run_conf(*line != '\0' ? line : NULL);
	kw = g_strndup(line, strcspn(line, " \t="));
	(void)conf_is_keyword(kw);
	g_free(kw);
	g_free(line);
	return 0;
}
