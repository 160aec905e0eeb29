/* fuzz_khosts: libFuzzer target for the known_hosts reader (src/khosts.c).
 *
 * The input is a known_hosts file. It is checked against one fixed
 * ed25519 key for "example.org" (port 22) and "[h]:2222", its recorded
 * key types are listed, its first line is tried as a host-pattern field,
 * and the raw bytes are taken for a key blob. The results of
 * khosts_check() and khosts_known_types() must agree with each other.
 * The seeds in corpus/fuzz_khosts/ use this key, plain and hashed.
 */
#include <string.h>

#include <glib.h>

#include "rfs/khosts.h"
#include "fuzz_common.h"

/* ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHbzAoX5GNGZnZ+8SgAfTbu5bfZ8ORnQ8riM
 * ejef/y4k, made with ssh-keygen for the seeds. */
static const unsigned char key[] = {
	0x00, 0x00, 0x00, 0x0b, 0x73, 0x73, 0x68, 0x2d, 0x65, 0x64, 0x32, 0x35,
	0x35, 0x31, 0x39, 0x00, 0x00, 0x00, 0x20, 0x76, 0xf3, 0x02, 0x85, 0xf9,
	0x18, 0xd1, 0x99, 0x9d, 0x9f, 0xbc, 0x4a, 0x00, 0x1f, 0x4d, 0xbb, 0xb9,
	0x6d, 0xf6, 0x7c, 0x39, 0x19, 0xd0, 0xf2, 0xb8, 0x8c, 0x7a, 0x37, 0x9f,
	0xff, 0x2e, 0x24,
};

static int input_fd;
static char input_path[64];

static gboolean has_type(char **types, const char *type)
{
	for (; *types != NULL; types++)
		if (strcmp(*types, type) == 0)
			return TRUE;
	return FALSE;
}

static void check_host(const char *host, int port)
{
	const char *const files[] = { input_path, NULL };
	struct khosts_check out;
	GError *err = NULL;
	char **types;
	int r;

	r = khosts_check(files, host, port, key, sizeof(key), &out, &err);
	FUZZ_ASSERT(r == 0 && err == NULL);
	types = khosts_known_types(files, host, port);
	FUZZ_ASSERT(types != NULL);
	for (char **t = types; *t != NULL; t++) {
		FUZZ_ASSERT(**t != '\0');
		FUZZ_ASSERT(!has_type(t + 1, *t));	/* no duplicates */
	}
	switch (out.result) {
	case KHOSTS_MATCH:
	case KHOSTS_MISMATCH:
		/* decided by a non-revoked entry of the offered key's type */
		FUZZ_ASSERT(has_type(types, "ssh-ed25519"));
		/* fall through */
	case KHOSTS_REVOKED:
		FUZZ_ASSERT(out.file != NULL &&
			    strcmp(out.file, input_path) == 0);
		FUZZ_ASSERT(out.line >= 1 && !out.other_types);
		break;
	case KHOSTS_NOTFOUND:
		FUZZ_ASSERT(out.file == NULL && out.line == 0);
		FUZZ_ASSERT(!has_type(types, "ssh-ed25519"));
		FUZZ_ASSERT(out.other_types == (types[0] != NULL));
		break;
	default:
		FUZZ_ASSERT(!"khosts_check: unknown result");
	}
	khosts_check_clear(&out);
	g_strfreev(types);
}

static void match_field(const char *field)
{
	static const char *const names[] = {
		"example.org", "EXAMPLE.org", "[h]:2222", "h", "",
	};
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(names); i++)
		(void)khosts_match_field(field, names[i]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	input_fd = fuzz_memfd("fuzz_khosts", input_path, sizeof(input_path));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char *line = g_strndup((const char *)data,
			       nl != NULL ? (size_t)(nl - data) : size);
	char *field, *type, *fp;

	fuzz_memfd_set(input_fd, data, size);
	check_host("example.org", 22);
	check_host("h", 2222);

	/* the first line whole, and its first field as a reader sees it */
	match_field(line);
	field = g_strndup(line, strcspn(line, " \t\r"));
	match_field(field);
	(void)khosts_match_field(field, line);
	g_free(field);
	g_free(line);

	type = khosts_key_type(data, size);
	if (type != NULL) {
		FUZZ_ASSERT(size >= 4 + strlen(type) && *type != '\0');
		FUZZ_ASSERT(memcmp(data + 4, type, strlen(type)) == 0);
		FUZZ_ASSERT(strpbrk(type, " \t\r\n") == NULL);
	}
	g_free(type);
	fp = khosts_fingerprint(data, size);
	FUZZ_ASSERT(g_str_has_prefix(fp, "SHA256:") && strlen(fp) == 50);
	g_free(fp);
	return 0;
}
