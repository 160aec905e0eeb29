/* Unit tests for khosts: known_hosts parsing, matching, appending and
 * fingerprints. Cases that need ssh-keygen skip cleanly without it.
 */
#include "rfs/khosts.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* A synthetic key blob: string type, then string of 32 bytes from seed.
 * khosts only looks at the type; ssh-keygen accepts it for ed25519. */
struct tkey {
	unsigned char *b;
	size_t len;
	char *b64;
};

static void put_string(GByteArray *a, const void *p, guint32 n)
{
	guint8 be[4] = { n >> 24, n >> 16, n >> 8, n };

	g_byte_array_append(a, be, 4);
	g_byte_array_append(a, p, n);
}

static struct tkey tkey_make(const char *type, guint8 seed)
{
	GByteArray *a = g_byte_array_new();
	guint8 pk[32];
	struct tkey k;
	int i;

	for (i = 0; i < 32; i++)
		pk[i] = (guint8)(seed * 31 + i);
	put_string(a, type, (guint32)strlen(type));
	put_string(a, pk, sizeof(pk));
	k.len = a->len;
	k.b = g_byte_array_free(a, FALSE);
	k.b64 = g_base64_encode(k.b, k.len);
	return k;
}

static void tkey_free(struct tkey *k)
{
	g_free(k->b);
	g_free(k->b64);
}

struct fix {
	char *dir;
	struct tkey ed1, ed2, ec1, rsa1;
};

static void rm_rf(const char *path)
{
	GDir *d = g_dir_open(path, 0, NULL);
	const char *n;

	if (d) {
		while ((n = g_dir_read_name(d))) {
			char *p = g_build_filename(path, n, NULL);

			rm_rf(p);
			g_free(p);
		}
		g_dir_close(d);
	}
	g_assert_cmpint(g_remove(path), ==, 0);
}

static void fix_setup(struct fix *f, gconstpointer data)
{
	GError *err = NULL;

	(void)data;
	f->dir = g_dir_make_tmp("khosts-XXXXXX", &err);
	g_assert_no_error(err);
	f->ed1 = tkey_make("ssh-ed25519", 1);
	f->ed2 = tkey_make("ssh-ed25519", 2);
	f->ec1 = tkey_make("ecdsa-sha2-nistp256", 3);
	f->rsa1 = tkey_make("ssh-rsa", 4);
}

static void fix_teardown(struct fix *f, gconstpointer data)
{
	(void)data;
	rm_rf(f->dir);
	g_free(f->dir);
	tkey_free(&f->ed1);
	tkey_free(&f->ed2);
	tkey_free(&f->ec1);
	tkey_free(&f->rsa1);
}

/* Write content to dir/name; returns the path (g_free). */
static char *put_file(struct fix *f, const char *name, const char *content)
{
	char *p = g_build_filename(f->dir, name, NULL);
	GError *err = NULL;

	g_file_set_contents(p, content, -1, &err);
	g_assert_no_error(err);
	return p;
}

/* khosts_check against one file; asserts success. */
static enum khosts_result check1(const char *file, const char *host, int port,
				 const struct tkey *k, struct khosts_check *out)
{
	const char *files[] = { file, NULL };
	GError *err = NULL;

	g_assert_cmpint(khosts_check(files, host, port, k->b, k->len, out,
				     &err), ==, 0);
	g_assert_no_error(err);
	return out->result;
}

static void test_key_type(void)
{
	struct tkey k = tkey_make("ssh-ed25519", 9);
	char *t = khosts_key_type(k.b, k.len);

	g_assert_cmpstr(t, ==, "ssh-ed25519");
	g_free(t);
	/* exactly the type string and nothing else is still well formed */
	t = khosts_key_type((const unsigned char *)"\0\0\0\3abc", 7);
	g_assert_cmpstr(t, ==, "abc");
	g_free(t);
	tkey_free(&k);
}

static void test_key_type_malformed(void)
{
	static const unsigned char shortlen[] = { 0, 0, 7 };
	static const unsigned char past[] = { 0, 0, 0, 9, 's', 's', 'h' };
	/* one byte short; the 'd' beyond len must not be read */
	static const unsigned char by1[] = { 0, 0, 0, 4, 'a', 'b', 'c', 'd' };
	static const unsigned char huge[] = { 0xff, 0xff, 0xff, 0xff, 'a' };
	static const unsigned char zero[] = { 0, 0, 0, 0, 'a' };
	static const unsigned char nul[] = { 0, 0, 0, 3, 'a', 0, 'b' };

	g_assert_null(khosts_key_type(NULL, 0));
	g_assert_null(khosts_key_type(shortlen, sizeof(shortlen)));
	g_assert_null(khosts_key_type(past, sizeof(past)));
	g_assert_null(khosts_key_type(by1, sizeof(by1) - 1));
	g_assert_null(khosts_key_type(huge, sizeof(huge)));
	g_assert_null(khosts_key_type(zero, sizeof(zero)));
	g_assert_null(khosts_key_type(nul, sizeof(nul)));
}

static void test_plain_match(struct fix *f, gconstpointer data)
{
	struct khosts_check c;
	char *txt = g_strdup_printf("other.org ssh-ed25519 %s\n"
				    "Example.COM,alias ssh-ed25519 %s c@d\n",
				    f->ed2.b64, f->ed1.b64);
	char *p = put_file(f, "kh", txt);

	(void)data;
	g_assert_cmpint(check1(p, "example.com", 22, &f->ed1, &c), ==,
			KHOSTS_MATCH);
	g_assert_cmpstr(c.file, ==, p);
	g_assert_cmpuint(c.line, ==, 2);
	khosts_check_clear(&c);
	g_assert_null(c.file);
	g_assert_cmpint(check1(p, "ALIAS", 0, &f->ed1, &c), ==, KHOSTS_MATCH);
	khosts_check_clear(&c);
	g_free(p);
	g_free(txt);
}

static void test_mismatch(struct fix *f, gconstpointer data)
{
	struct khosts_check c;
	char *t1 = g_strdup_printf("h ecdsa-sha2-nistp256 %s\n", f->ec1.b64);
	char *t2 = g_strdup_printf("# old\n\nh ssh-ed25519 %s\n"
				   "h ssh-ed25519 %s\n", f->ed2.b64,
				   f->ed2.b64);
	char *p1 = put_file(f, "a", t1), *p2 = put_file(f, "b", t2);
	const char *files[] = { p1, p2, NULL };
	GError *err = NULL;

	(void)data;
	g_assert_cmpint(khosts_check(files, "h", 22, f->ed1.b, f->ed1.len,
				     &c, &err), ==, 0);
	g_assert_cmpint(c.result, ==, KHOSTS_MISMATCH);
	g_assert_cmpstr(c.file, ==, p2);
	g_assert_cmpuint(c.line, ==, 3);
	g_assert_false(c.other_types);
	khosts_check_clear(&c);
	g_free(p1);
	g_free(p2);
	g_free(t1);
	g_free(t2);
}

static void test_notfound_other_types(struct fix *f, gconstpointer data)
{
	struct khosts_check c;
	char *txt = g_strdup_printf("h ecdsa-sha2-nistp256 %s\n"
				    "x ssh-ed25519 %s\n", f->ec1.b64,
				    f->ed2.b64);
	char *p = put_file(f, "kh", txt);

	(void)data;
	g_assert_cmpint(check1(p, "h", 22, &f->ed1, &c), ==, KHOSTS_NOTFOUND);
	g_assert_true(c.other_types);
	g_assert_null(c.file);
	khosts_check_clear(&c);
	g_assert_cmpint(check1(p, "nobody", 22, &f->ed1, &c), ==,
			KHOSTS_NOTFOUND);
	g_assert_false(c.other_types);
	khosts_check_clear(&c);
	g_free(p);
	g_free(txt);
}

static void test_port(struct fix *f, gconstpointer data)
{
	struct khosts_check c;
	char *txt = g_strdup_printf("h ssh-ed25519 %s\n"
				    "[h]:2222 ssh-ed25519 %s\n", f->ed1.b64,
				    f->ed2.b64);
	char *p = put_file(f, "kh", txt);

	(void)data;
	g_assert_cmpint(check1(p, "h", 22, &f->ed1, &c), ==, KHOSTS_MATCH);
	g_assert_cmpuint(c.line, ==, 1);
	khosts_check_clear(&c);
	g_assert_cmpint(check1(p, "h", 0, &f->ed1, &c), ==, KHOSTS_MATCH);
	khosts_check_clear(&c);
	g_assert_cmpint(check1(p, "h", 2222, &f->ed2, &c), ==, KHOSTS_MATCH);
	g_assert_cmpuint(c.line, ==, 2);
	khosts_check_clear(&c);
	/* the plain entry must not vouch for another port */
	g_assert_cmpint(check1(p, "h", 2222, &f->ed1, &c), ==,
			KHOSTS_MISMATCH);
	g_assert_cmpuint(c.line, ==, 2);
	khosts_check_clear(&c);
	g_assert_cmpint(check1(p, "h", 2200, &f->ed1, &c), ==,
			KHOSTS_NOTFOUND);
	khosts_check_clear(&c);
	g_free(p);
	g_free(txt);
}

/* Hashed entry built here with GHmac, independent of khosts_add(). */
static char *hashed_field(const char *name)
{
	guint8 salt[20], dig[20];
	gsize n = sizeof(dig);
	GHmac *h;
	char *s64, *d64, *out;
	int i;

	for (i = 0; i < 20; i++)
		salt[i] = (guint8)(i * 7 + 1);
	h = g_hmac_new(G_CHECKSUM_SHA1, salt, sizeof(salt));
	g_hmac_update(h, (const guchar *)name, -1);
	g_hmac_get_digest(h, dig, &n);
	g_hmac_unref(h);
	s64 = g_base64_encode(salt, sizeof(salt));
	d64 = g_base64_encode(dig, n);
	out = g_strdup_printf("|1|%s|%s", s64, d64);
	g_free(s64);
	g_free(d64);
	return out;
}

static void test_hashed_hmac(struct fix *f, gconstpointer data)
{
	struct khosts_check c;
	char *h1 = hashed_field("host.example"), *h2 = hashed_field("[h]:2022");
	char *txt = g_strdup_printf("%s ssh-ed25519 %s\n%s ssh-ed25519 %s\n",
				    h1, f->ed1.b64, h2, f->ed2.b64);
	char *p = put_file(f, "kh", txt);

	(void)data;
	g_assert_true(khosts_match_field(h1, "host.example"));
	g_assert_true(khosts_match_field(h1, "HOST.Example"));
	g_assert_false(khosts_match_field(h1, "host.exampl"));
	g_assert_false(khosts_match_field("|1|AAAA|AAAA", "host.example"));
	g_assert_false(khosts_match_field("|1|nobar", "host.example"));
	g_assert_cmpint(check1(p, "host.example", 22, &f->ed1, &c), ==,
			KHOSTS_MATCH);
	g_assert_cmpuint(c.line, ==, 1);
	khosts_check_clear(&c);
	g_assert_cmpint(check1(p, "h", 2022, &f->ed2, &c), ==, KHOSTS_MATCH);
	g_assert_cmpuint(c.line, ==, 2);
	khosts_check_clear(&c);
	g_assert_cmpint(check1(p, "h", 22, &f->ed2, &c), ==, KHOSTS_NOTFOUND);
	khosts_check_clear(&c);
	g_free(p);
	g_free(txt);
	g_free(h1);
	g_free(h2);
}

static void test_patterns(void)
{
	g_assert_true(khosts_match_field("*.example.com", "a.example.com"));
	g_assert_false(khosts_match_field("*.example.com", "example.com"));
	g_assert_true(khosts_match_field("host?.lan", "host7.lan"));
	g_assert_false(khosts_match_field("host?.lan", "host.lan"));
	g_assert_false(khosts_match_field("host?.lan", "host77.lan"));
	g_assert_true(khosts_match_field("a,b,*.C.org", "x.c.ORG"));
	g_assert_true(khosts_match_field("*", "anything"));
	g_assert_true(khosts_match_field("[h]:*", "[h]:2222"));
	g_assert_false(khosts_match_field("h", "[h]:2222"));
	g_assert_true(khosts_match_field("*a*a*a*b", "aaaaaaaaaaaaaaab"));
	g_assert_false(khosts_match_field("*a*a*a*b", "aaaaaaaaaaaaaaaa"));
	g_assert_false(khosts_match_field("", "h"));
}

static void test_negation(struct fix *f, gconstpointer data)
{
	struct khosts_check c;
	char *txt = g_strdup_printf("*.lan,!bad.lan ssh-ed25519 %s\n",
				    f->ed1.b64);
	char *p = put_file(f, "kh", txt);

	(void)data;
	g_assert_true(khosts_match_field("*.lan,!bad.lan", "good.lan"));
	g_assert_false(khosts_match_field("*.lan,!bad.lan", "bad.lan"));
	/* order does not matter: the veto wins either way */
	g_assert_false(khosts_match_field("!bad.lan,*.lan", "BAD.lan"));
	g_assert_false(khosts_match_field("!bad.lan", "good.lan"));
	g_assert_cmpint(check1(p, "good.lan", 22, &f->ed1, &c), ==,
			KHOSTS_MATCH);
	khosts_check_clear(&c);
	g_assert_cmpint(check1(p, "bad.lan", 22, &f->ed1, &c), ==,
			KHOSTS_NOTFOUND);
	khosts_check_clear(&c);
	g_free(p);
	g_free(txt);
}

static void test_revoked(struct fix *f, gconstpointer data)
{
	struct khosts_check c;
	char *t1 = g_strdup_printf("h ssh-ed25519 %s\nh ssh-ed25519 %s\n",
				   f->ed1.b64, f->ed2.b64);
	char *t2 = g_strdup_printf("@revoked other ssh-ed25519 %s\n"
				   "@revoked * ssh-ed25519 %s\n",
				   f->ed1.b64, f->ed2.b64);
	char *p1 = put_file(f, "a", t1), *p2 = put_file(f, "b", t2);
	const char *files[] = { p1, p2, NULL };
	GError *err = NULL;

	(void)data;
	/* revoked for another host only: the plain entry decides */
	g_assert_cmpint(khosts_check(files, "h", 22, f->ed1.b, f->ed1.len,
				     &c, &err), ==, 0);
	g_assert_cmpint(c.result, ==, KHOSTS_MATCH);
	khosts_check_clear(&c);
	g_assert_cmpint(khosts_check(files, "other", 22, f->ed1.b, f->ed1.len,
				     &c, &err), ==, 0);
	g_assert_cmpint(c.result, ==, KHOSTS_REVOKED);
	g_assert_cmpstr(c.file, ==, p2);
	g_assert_cmpuint(c.line, ==, 1);
	khosts_check_clear(&c);
	/* "*" revokes everywhere and beats a MATCH in an earlier file */
	g_assert_cmpint(khosts_check(files, "h", 22, f->ed2.b, f->ed2.len,
				     &c, &err), ==, 0);
	g_assert_cmpint(c.result, ==, KHOSTS_REVOKED);
	g_assert_cmpuint(c.line, ==, 2);
	khosts_check_clear(&c);
	g_assert_no_error(err);
	g_free(p1);
	g_free(p2);
	g_free(t1);
	g_free(t2);
}

static void test_cert_authority(struct fix *f, gconstpointer data)
{
	struct khosts_check c;
	char *txt = g_strdup_printf("@cert-authority h ssh-ed25519 %s\n"
				    "@bogus h ssh-ed25519 %s\n",
				    f->ed1.b64, f->ed2.b64);
	char *p = put_file(f, "kh", txt);
	const char *files[] = { p, NULL };
	char **types;

	(void)data;
	g_assert_cmpint(check1(p, "h", 22, &f->ed1, &c), ==, KHOSTS_NOTFOUND);
	g_assert_false(c.other_types);
	khosts_check_clear(&c);
	g_assert_cmpint(check1(p, "h", 22, &f->ed2, &c), ==, KHOSTS_NOTFOUND);
	khosts_check_clear(&c);
	types = khosts_known_types(files, "h", 22);
	g_assert_null(types[0]);
	g_strfreev(types);
	g_free(p);
	g_free(txt);
}

static void test_garbage(struct fix *f, gconstpointer data)
{
	struct khosts_check c;
	GString *s = g_string_new("  # comment ssh-ed25519 x\n\n\t \n");
	char *p;
	int i;

	(void)data;
	for (i = 0; i < 100000; i++)	/* one very long garbage line */
		g_string_append_c(s, 'x');
	g_string_append(s, "\nh\nh ssh-ed25519\n@revoked\n@revoked h\n");
	g_string_append(s, "h ssh-ed25519 !!notbase64!!\n");
	g_string_append(s, "h ssh-ed25519 AAAA\n");	/* short blob */
	g_string_append_printf(s, "h ssh-ed25519 %.*s\n", 22, f->ed1.b64);
	/* type field disagreeing with the blob, as OpenSSH rejects */
	g_string_append_printf(s, "h ecdsa-sha2-nistp256 %s\n", f->ed1.b64);
	g_string_append_printf(s, "h ssh-ed25519 %s comment\r\n", f->ed1.b64);
	g_string_append_printf(s, "h ssh-ed25519 %s", f->ed2.b64);
	p = put_file(f, "kh", s->str);
	g_assert_cmpint(check1(p, "h", 22, &f->ed1, &c), ==, KHOSTS_MATCH);
	g_assert_cmpuint(c.line, ==, 13);
	khosts_check_clear(&c);
	/* last line without a newline still counts */
	g_assert_cmpint(check1(p, "h", 22, &f->ed2, &c), ==, KHOSTS_MATCH);
	g_assert_cmpuint(c.line, ==, 14);
	khosts_check_clear(&c);
	g_free(p);
	/* damaged base64 must not decode into some other key of the type */
	g_string_assign(s, "");
	g_string_append_printf(s, "g ssh-ed25519 %.*s\n", 22, f->ed1.b64);
	g_string_append_printf(s, "g ssh-ed25519 %.*s*%s\n", 30, f->ed1.b64,
			       f->ed1.b64 + 30);
	p = put_file(f, "kh2", s->str);
	g_assert_cmpint(check1(p, "g", 22, &f->ed2, &c), ==, KHOSTS_NOTFOUND);
	khosts_check_clear(&c);
	g_free(p);
	g_string_free(s, TRUE);
}

static void test_rsa_sha2_alias(struct fix *f, gconstpointer data)
{
	struct khosts_check c;
	char *txt = g_strdup_printf("h rsa-sha2-512 %s\n", f->rsa1.b64);
	char *p = put_file(f, "kh", txt);
	const char *files[] = { p, NULL };
	char **types;

	(void)data;
	g_assert_cmpint(check1(p, "h", 22, &f->rsa1, &c), ==, KHOSTS_MATCH);
	khosts_check_clear(&c);
	types = khosts_known_types(files, "h", 22);
	g_assert_cmpstr(types[0], ==, "ssh-rsa");
	g_assert_null(types[1]);
	g_strfreev(types);
	g_free(p);
	g_free(txt);
}

static void test_missing_and_unreadable(struct fix *f, gconstpointer data)
{
	struct khosts_check c;
	char *txt = g_strdup_printf("h ssh-ed25519 %s\n", f->ed1.b64);
	char *p = put_file(f, "kh", txt);
	char *missing = g_build_filename(f->dir, "nope", "kh", NULL);
	const char *files[] = { missing, p, NULL };
	const char *bad[] = { f->dir, p, NULL };	/* a directory */
	GError *err = NULL;

	(void)data;
	g_assert_cmpint(khosts_check(files, "h", 22, f->ed1.b, f->ed1.len,
				     &c, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpint(c.result, ==, KHOSTS_MATCH);
	g_assert_cmpstr(c.file, ==, p);
	khosts_check_clear(&c);
	g_assert_cmpint(khosts_check(bad, "h", 22, f->ed1.b, f->ed1.len,
				     &c, &err), ==, -1);
	g_assert_nonnull(err);
	g_assert_null(c.file);
	g_clear_error(&err);
	khosts_check_clear(&c);
	g_free(missing);
	g_free(p);
	g_free(txt);
}

static void test_known_types(struct fix *f, gconstpointer data)
{
	char *t1 = g_strdup_printf("h ecdsa-sha2-nistp256 %s\n"
				   "@revoked h ssh-rsa %s\n"
				   "x ssh-ed25519 %s\n",
				   f->ec1.b64, f->rsa1.b64, f->ed1.b64);
	char *t2 = g_strdup_printf("h ssh-ed25519 %s\nh ssh-ed25519 %s\n"
				   "*.h,h ecdsa-sha2-nistp256 %s\n"
				   "[h]:99 ssh-rsa %s\n", f->ed1.b64,
				   f->ed2.b64, f->ec1.b64, f->rsa1.b64);
	char *p1 = put_file(f, "a", t1), *p2 = put_file(f, "b", t2);
	const char *files[] = { p1, p2, NULL };
	char **types = khosts_known_types(files, "h", 22);

	(void)data;
	g_assert_cmpuint(g_strv_length(types), ==, 2);
	g_assert_cmpstr(types[0], ==, "ecdsa-sha2-nistp256");
	g_assert_cmpstr(types[1], ==, "ssh-ed25519");
	g_strfreev(types);
	types = khosts_known_types(files, "h", 99);
	g_assert_cmpuint(g_strv_length(types), ==, 1);
	g_assert_cmpstr(types[0], ==, "ssh-rsa");
	g_strfreev(types);
	g_free(p1);
	g_free(p2);
	g_free(t1);
	g_free(t2);
}

/* ssh-keygen's path (g_free), or NULL: then a test that needs it for
 * everything is skipped, one that needs it for a cross-check says so. */
static char *keygen(gboolean skip)
{
	char *kg = g_find_program_in_path("ssh-keygen");

	if (!kg && skip)
		g_test_skip("ssh-keygen not found");
	else if (!kg)
		g_test_message("ssh-keygen not found: no OpenSSH cross-check");
	return kg;
}

/* Run argv; returns the exit status, stdout in *out if out (g_free). */
static int run(char **argv, char **out)
{
	GError *err = NULL;
	int ws = -1;

	/* stdout would corrupt our TAP stream unless captured or dropped */
	g_spawn_sync(NULL, argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL |
		     (out ? 0 : G_SPAWN_STDOUT_TO_DEV_NULL), NULL, NULL, out,
		     NULL, &ws, &err);
	g_assert_no_error(err);
	g_assert_true(WIFEXITED(ws));
	return WEXITSTATUS(ws);
}

/* ssh-keygen -F name -f file: found (exit 0, "found: line N")? */
static gboolean keygen_finds(const char *kg, const char *file,
			     const char *name, unsigned line)
{
	char *argv[] = { (char *)kg, "-F", (char *)name, "-f", (char *)file,
			 NULL };
	char *out = NULL, *want = g_strdup_printf("found: line %u", line);
	gboolean r = run(argv, &out) == 0 && strstr(out, want) != NULL;

	g_free(out);
	g_free(want);
	return r;
}

static void test_add(struct fix *f, gconstpointer data)
{
	struct khosts_check c;
	char *p = g_build_filename(f->dir, "sub", "dir", "kh", NULL);
	char *sub = g_path_get_dirname(p), *txt, **lines, *kg;
	GError *err = NULL;
	struct stat st;

	(void)data;
	g_assert_cmpint(khosts_add(p, "Host.X", 22, f->ed1.b, f->ed1.len,
				   FALSE, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpint(stat(p, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	g_assert_cmpint(stat(sub, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0700);
	/* damage the final newline: the next entry must start a line */
	g_assert_true(g_file_get_contents(p, &txt, NULL, NULL));
	g_assert_true(g_str_has_suffix(txt, "\n"));
	txt[strlen(txt) - 1] = '\0';
	g_assert_true(g_file_set_contents(p, txt, -1, NULL));
	g_free(txt);
	g_assert_cmpint(khosts_add(p, "h", 2222, f->ec1.b, f->ec1.len, FALSE,
				   &err), ==, 0);
	g_assert_true(g_file_get_contents(p, &txt, NULL, NULL));
	lines = g_strsplit(txt, "\n", -1);
	g_assert_cmpuint(g_strv_length(lines), ==, 3);
	g_free(txt);
	txt = g_strconcat("[h]:2222 ecdsa-sha2-nistp256 ", f->ec1.b64, NULL);
	g_assert_cmpstr(lines[1], ==, txt);
	g_strfreev(lines);
	g_free(txt);
	g_assert_cmpint(check1(p, "host.x", 22, &f->ed1, &c), ==,
			KHOSTS_MATCH);
	g_assert_cmpuint(c.line, ==, 1);
	khosts_check_clear(&c);
	g_assert_cmpint(check1(p, "h", 2222, &f->ec1, &c), ==, KHOSTS_MATCH);
	g_assert_cmpuint(c.line, ==, 2);
	khosts_check_clear(&c);
	/* unstorable host names and blobs are refused */
	g_assert_cmpint(khosts_add(p, "a b", 22, f->ed1.b, f->ed1.len, FALSE,
				   &err), ==, -1);
	g_clear_error(&err);
	g_assert_cmpint(khosts_add(p, "h", 22, f->ed1.b, 3, FALSE, &err), ==,
			-1);
	g_clear_error(&err);
	if ((kg = keygen(FALSE))) {
		g_assert_true(keygen_finds(kg, p, "host.x", 1));
		g_assert_true(keygen_finds(kg, p, "[h]:2222", 2));
		g_assert_false(keygen_finds(kg, p, "h", 2));
	}
	g_free(kg);
	g_free(sub);
	g_free(p);
}

static void test_add_hashed(struct fix *f, gconstpointer data)
{
	struct khosts_check c;
	char *p = g_build_filename(f->dir, "kh", NULL), *txt, **lines, *kg;
	GError *err = NULL;

	(void)data;
	g_assert_cmpint(khosts_add(p, "srv.example", 22, f->ed1.b, f->ed1.len,
				   TRUE, &err), ==, 0);
	g_assert_cmpint(khosts_add(p, "srv.example", 2022, f->ed2.b,
				   f->ed2.len, TRUE, &err), ==, 0);
	g_assert_cmpint(khosts_add(p, "srv.example", 22, f->ec1.b, f->ec1.len,
				   TRUE, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_true(g_file_get_contents(p, &txt, NULL, NULL));
	/* (not "srv": base64 of a random salt or key may hold it) */
	g_assert_null(strstr(txt, "srv.example"));
	lines = g_strsplit(txt, "\n", -1);
	g_assert_cmpuint(g_strv_length(lines), ==, 4);
	g_assert_true(g_str_has_prefix(lines[0], "|1|"));
	/* a fresh salt per line: same host, different hashed fields */
	g_assert_cmpint(strncmp(lines[0], lines[2], 30), !=, 0);
	g_strfreev(lines);
	g_free(txt);
	g_assert_cmpint(check1(p, "srv.example", 22, &f->ed1, &c), ==,
			KHOSTS_MATCH);
	g_assert_cmpuint(c.line, ==, 1);
	khosts_check_clear(&c);
	g_assert_cmpint(check1(p, "SRV.example", 2022, &f->ed2, &c), ==,
			KHOSTS_MATCH);
	g_assert_cmpuint(c.line, ==, 2);
	khosts_check_clear(&c);
	g_assert_cmpint(check1(p, "srv.example", 2022, &f->ed1, &c), ==,
			KHOSTS_MISMATCH);
	khosts_check_clear(&c);
	if ((kg = keygen(FALSE))) {
		g_assert_true(keygen_finds(kg, p, "srv.example", 1));
		g_assert_true(keygen_finds(kg, p, "[srv.example]:2022", 2));
		g_assert_false(keygen_finds(kg, p, "srv.exampl", 1));
	}
	g_free(kg);
	g_free(p);
}

/* ssh-keygen -H hashes a plain file; khosts must still find the hosts. */
static void test_hashed_keygen(struct fix *f, gconstpointer data)
{
	struct khosts_check c;
	char *kg = keygen(TRUE), *txt, *p, *argv[5];

	(void)data;
	if (!kg)
		return;
	txt = g_strdup_printf("a.example,[b.example]:2200 ssh-ed25519 %s\n"
			      "c.example ssh-ed25519 %s\n", f->ed1.b64,
			      f->ed2.b64);
	p = put_file(f, "kh", txt);
	g_free(txt);
	argv[0] = kg;
	argv[1] = "-H";
	argv[2] = "-f";
	argv[3] = p;
	argv[4] = NULL;
	g_assert_cmpint(run(argv, NULL), ==, 0);
	g_assert_true(g_file_get_contents(p, &txt, NULL, NULL));
	g_assert_null(strstr(txt, "example"));
	g_free(txt);
	g_assert_cmpint(check1(p, "a.example", 22, &f->ed1, &c), ==,
			KHOSTS_MATCH);
	khosts_check_clear(&c);
	g_assert_cmpint(check1(p, "b.example", 2200, &f->ed1, &c), ==,
			KHOSTS_MATCH);
	khosts_check_clear(&c);
	g_assert_cmpint(check1(p, "c.example", 22, &f->ed1, &c), ==,
			KHOSTS_MISMATCH);
	khosts_check_clear(&c);
	g_assert_cmpint(check1(p, "b.example", 22, &f->ed1, &c), ==,
			KHOSTS_NOTFOUND);
	khosts_check_clear(&c);
	g_free(p);
	g_free(kg);
}

static void test_fingerprint(struct fix *f, gconstpointer data)
{
	char *kg = keygen(TRUE), *key, *pub, *txt = NULL, **fields, *fp, *out;
	char *gen[] = { NULL, "-q", "-t", "ed25519", "-N", "", "-C", "t",
			"-f", NULL, NULL };
	char *lf[] = { NULL, "-lf", NULL, NULL };
	unsigned char *blob;
	gsize len;

	(void)data;
	fp = khosts_fingerprint(f->ed1.b, f->ed1.len);
	g_assert_true(g_str_has_prefix(fp, "SHA256:"));
	g_assert_cmpuint(strlen(fp), ==, 7 + 43);	/* 32 bytes, no '=' */
	g_free(fp);
	if (!kg)
		return;
	key = g_build_filename(f->dir, "id", NULL);
	pub = g_strconcat(key, ".pub", NULL);
	gen[0] = lf[0] = kg;
	gen[9] = key;
	lf[2] = pub;
	g_assert_cmpint(run(gen, NULL), ==, 0);
	g_assert_true(g_file_get_contents(pub, &txt, NULL, NULL));
	fields = g_strsplit(txt, " ", -1);
	g_assert_cmpstr(fields[0], ==, "ssh-ed25519");
	blob = g_base64_decode(fields[1], &len);
	g_assert_cmpint(run(lf, &out), ==, 0);
	g_strfreev(fields);
	fields = g_strsplit(out, " ", -1);
	fp = khosts_fingerprint(blob, len);
	g_assert_cmpstr(fp, ==, fields[1]);
	g_free(fp);
	g_free(out);
	g_strfreev(fields);
	g_free(blob);
	g_free(txt);
	g_free(pub);
	g_free(key);
	g_free(kg);
}

/* RevokedHostKeys' file of plain keys: found on its line; a damaged key
 * field (which g_base64_decode would read past) and comments never match;
 * a KRL and a missing file are errors, not "not listed". */
static void test_key_listed(struct fix *f, gconstpointer data)
{
	char *txt = g_strdup_printf("# revoked\n"
				    "ecdsa-sha2-nistp256 %s old\n\n"
				    "ssh-ed25519 %s!! x\n"
				    "ssh-ed25519 %s\n",
				    f->ec1.b64, f->ed2.b64, f->ed1.b64);
	char *p = put_file(f, "revoked", txt), *krl = put_file(f, "krl",
							      "SSHKRL\n...");
	char *none = g_build_filename(f->dir, "none", NULL);
	GError *err = NULL;
	unsigned line;

	(void)data;
	g_assert_cmpint(khosts_key_listed(p, f->ed1.b, f->ed1.len, &line,
					  &err), ==, 1);
	g_assert_no_error(err);
	g_assert_cmpuint(line, ==, 5);
	g_assert_cmpint(khosts_key_listed(p, f->ec1.b, f->ec1.len, &line,
					  &err), ==, 1);
	g_assert_cmpuint(line, ==, 2);
	g_assert_cmpint(khosts_key_listed(p, f->ed2.b, f->ed2.len, &line,
					  &err), ==, 0);	/* damaged */
	g_assert_cmpint(khosts_key_listed(p, f->rsa1.b, f->rsa1.len, &line,
					  &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpint(khosts_key_listed(krl, f->ed1.b, f->ed1.len, &line,
					  &err), ==, -1);
	g_assert_nonnull(strstr(err->message, "revocation list"));
	g_clear_error(&err);
	g_assert_cmpint(khosts_key_listed(none, f->ed1.b, f->ed1.len, &line,
					  &err), ==, -1);
	g_assert_nonnull(err);
	g_clear_error(&err);
	g_free(txt);
	g_free(p);
	g_free(krl);
	g_free(none);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/khosts/key_type", test_key_type);
	g_test_add_func("/khosts/key_type_malformed", test_key_type_malformed);
	g_test_add_func("/khosts/patterns", test_patterns);
#define T(name, fn) g_test_add("/khosts/" name, struct fix, NULL, \
			       fix_setup, fn, fix_teardown)
	T("plain_match", test_plain_match);
	T("mismatch", test_mismatch);
	T("notfound_other_types", test_notfound_other_types);
	T("port", test_port);
	T("hashed_hmac", test_hashed_hmac);
	T("hashed_keygen", test_hashed_keygen);
	T("negation", test_negation);
	T("revoked", test_revoked);
	T("cert_authority", test_cert_authority);
	T("key_listed", test_key_listed);
	T("garbage", test_garbage);
	T("rsa_sha2_alias", test_rsa_sha2_alias);
	T("missing_and_unreadable", test_missing_and_unreadable);
	T("known_types", test_known_types);
	T("add", test_add);
	T("add_hashed", test_add_hashed);
	T("fingerprint", test_fingerprint);
#undef T
	return g_test_run();
}
