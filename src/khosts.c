/* khosts: OpenSSH known_hosts lookup and append (sshd(8), "SSH_KNOWN_HOSTS
 * FILE FORMAT"). See include/rfs/khosts.h for the contract.
 */
#include "rfs/khosts.h"
#include "rfs/util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define HASH_MAGIC "|1|"
#define SHA1_LEN 20		/* HMAC-SHA1 digest and salt, bytes */
#define SHA256_LEN 32

/* One usable known_hosts line whose host field matched the name. */
struct entry {
	const char *file;	/* as passed in files[] */
	unsigned line;		/* 1-based */
	gboolean revoked;	/* @revoked marker */
	gboolean cert;		/* @cert-authority: a CA's key, for host
				 * certificates (which rfs cannot check) */
	const char *type;	/* type inside the blob, not the type field */
	const unsigned char *blob;
	gsize bloblen;
};

typedef void (*entry_cb)(const struct entry *e, void *data);

char *khosts_key_type(const unsigned char *key, size_t keylen)
{
	guint32 n;
	size_t i;

	if (!key || keylen < 4)
		return NULL;
	n = (guint32)key[0] << 24 | (guint32)key[1] << 16 |
	    (guint32)key[2] << 8 | key[3];
	if (n == 0 || n > keylen - 4)
		return NULL;
	/* Type names are printable ASCII; anything else would let a hostile
	 * blob smuggle NULs or spaces into strings we compare and write. */
	for (i = 0; i < n; i++)
		if (key[4 + i] <= 0x20 || key[4 + i] >= 0x7f)
			return NULL;
	return g_strndup((const char *)key + 4, n);
}

char *khosts_fingerprint(const unsigned char *key, size_t keylen)
{
	GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
	guint8 dig[SHA256_LEN];
	gsize n = sizeof(dig);
	char *b64, *out;
	size_t len;

	g_checksum_update(c, key, (gssize)keylen);
	g_checksum_get_digest(c, dig, &n);
	g_checksum_free(c);
	b64 = g_base64_encode(dig, n);
	/* ssh-keygen -l prints the base64 without its '=' padding */
	len = strlen(b64);
	while (len > 0 && b64[len - 1] == '=')
		b64[--len] = '\0';
	out = g_strconcat("SHA256:", b64, NULL);
	g_free(b64);
	return out;
}

/* g_base64_decode() silently skips junk, so check the alphabet and padding
 * first: a damaged key field must make the line unusable, not a new key. */
static unsigned char *b64_decode(const char *s, gsize *len)
{
	size_t n = strlen(s), i, pad = 0;

	*len = 0;
	if (n == 0 || n % 4 != 0)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || !(g_ascii_isalnum(s[i]) || s[i] == '+' ||
				 s[i] == '/'))
			return NULL;
	}
	if (pad > 2)
		return NULL;
	return g_base64_decode(s, len);
}

/* "|1|" base64(salt) "|" base64(HMAC-SHA1(salt, name)); g_free. */
static char *hash_name(const guint8 *salt, const char *name)
{
	GHmac *h = g_hmac_new(G_CHECKSUM_SHA1, salt, SHA1_LEN);
	guint8 dig[SHA1_LEN];
	gsize n = sizeof(dig);
	char *s64, *d64, *out;

	g_hmac_update(h, (const guchar *)name, (gssize)strlen(name));
	g_hmac_get_digest(h, dig, &n);
	g_hmac_unref(h);
	s64 = g_base64_encode(salt, SHA1_LEN);
	d64 = g_base64_encode(dig, n);
	out = g_strconcat(HASH_MAGIC, s64, "|", d64, NULL);
	g_free(s64);
	g_free(d64);
	return out;
}

/* Like OpenSSH, rebuild the hashed field from its salt and compare the
 * text, so only the canonical encoding matches. name is lowercase. */
static gboolean match_hashed(const char *field, const char *name)
{
	const char *salt64 = field + strlen(HASH_MAGIC);
	const char *bar = strchr(salt64, '|');
	char *s64, *want;
	unsigned char *salt;
	gsize saltlen;
	gboolean r = FALSE;

	if (!bar)
		return FALSE;
	s64 = g_strndup(salt64, (gsize)(bar - salt64));
	salt = b64_decode(s64, &saltlen);
	if (salt && saltlen == SHA1_LEN) {
		want = hash_name(salt, name);
		r = strcmp(want, field) == 0;
		g_free(want);
	}
	g_free(salt);
	g_free(s64);
	return r;
}

/* Glob with '*' and '?', ASCII case-insensitive. Backtracks only to the
 * last '*', so it stays linear-ish on hostile patterns like "*a*a*a*b". */
/* Comma-separated patterns: a matching "!pat" vetoes the whole line. */
static gboolean match_list(const char *field, const char *name)
{
	gboolean positive = FALSE, neg;
	const char *p = field, *end;

	for (;;) {
		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		neg = *p == '!';
		if (util_glob_match(name, p + neg, (size_t)(end - (p + neg)), TRUE)) {
			if (neg)
				return FALSE;
			positive = TRUE;
		}
		if (*end == '\0')
			return positive;
		p = end + 1;
	}
}

gboolean khosts_match_field(const char *field, const char *name)
{
	char *lname;
	gboolean r;

	if (!field || !name)
		return FALSE;
	/* OpenSSH lowercases the host before matching or hashing it */
	lname = g_ascii_strdown(name, -1);
	if (g_str_has_prefix(field, HASH_MAGIC))
		r = match_hashed(field, lname);
	else
		r = match_list(field, lname);
	g_free(lname);
	return r;
}

/* "host" for port 22, else "[host]:port", lowercased; g_free. */
static char *lookup_name(const char *host, int port)
{
	char *name, *low;

	if (port <= 0 || port == 22)
		name = g_strdup(host);
	else
		name = g_strdup_printf("[%s]:%d", host, port);
	low = g_ascii_strdown(name, -1);
	g_free(name);
	return low;
}

static char *next_field(char **p)
{
	char *s = *p, *start;

	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	if (*s == '\0') {
		*p = s;
		return NULL;
	}
	start = s;
	while (*s && *s != ' ' && *s != '\t' && *s != '\r')
		s++;
	if (*s)
		*s++ = '\0';
	*p = s;
	return start;
}

/* OpenSSH accepts the RSA signature names as the key type of an RSA key. */
static gboolean type_ok(const char *field, const char *blobtype)
{
	if (strcmp(field, blobtype) == 0)
		return TRUE;
	return strcmp(blobtype, "ssh-rsa") == 0 &&
	       (strcmp(field, "rsa-sha2-256") == 0 ||
		strcmp(field, "rsa-sha2-512") == 0);
}

/* Parse one line (modified in place); call cb if it is usable and its host
 * field matches name. Anything malformed is skipped silently, as ssh does. */
static void handle_line(const char *file, unsigned lineno, char *s,
			const char *name, entry_cb cb, void *data)
{
	struct entry e = { .file = file, .line = lineno };
	char *hosts, *tfield, *kfield, *type = NULL;
	unsigned char *blob = NULL;

	hosts = next_field(&s);
	if (!hosts || *hosts == '#')
		return;
	if (*hosts == '@') {
		if (!strcmp(hosts, "@revoked"))
			e.revoked = TRUE;
		else if (!strcmp(hosts, "@cert-authority"))
			e.cert = TRUE;
		else
			return;
		hosts = next_field(&s);
	}
	tfield = next_field(&s);
	kfield = next_field(&s);
	if (!hosts || !tfield || !kfield || !khosts_match_field(hosts, name))
		return;
	blob = b64_decode(kfield, &e.bloblen);
	if (blob)
		type = khosts_key_type(blob, e.bloblen);
	if (type && type_ok(tfield, type)) {
		e.type = type;
		e.blob = blob;
		cb(&e, data);
	}
	g_free(type);
	g_free(blob);
}

/* Returns 0 (also for a missing file) or -1 with *err. */
static int foreach_file(const char *file, const char *name, entry_cb cb,
			void *data, GError **err)
{
	char *buf, *p, *end, *nl;
	gsize len;
	unsigned lineno = 0;
	GError *e = NULL;

	if (!g_file_get_contents(file, &buf, &len, &e)) {
		if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
			g_error_free(e);
			return 0;
		}
		g_propagate_error(err, e);
		return -1;
	}
	/* buf[len] is the NUL g_file_get_contents() adds, so the last line
	 * may end there; an embedded NUL just cuts its line short. */
	end = buf + len;
	for (p = buf; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		*nl = '\0';
		handle_line(file, ++lineno, p, name, cb, data);
	}
	g_free(buf);
	return 0;
}

struct hit {
	const char *file;
	unsigned line;
};

struct check_state {
	const unsigned char *key;
	size_t keylen;
	const char *type;	/* of the offered key; NULL if malformed */
	struct hit revoked, match, mismatch, ca;
	gboolean other_types;
};

static void hit_set(struct hit *h, const struct entry *e)
{
	if (!h->file) {
		h->file = e->file;
		h->line = e->line;
	}
}

static void check_cb(const struct entry *e, void *data)
{
	struct check_state *st = data;
	gboolean same = e->bloblen == st->keylen &&
			memcmp(e->blob, st->key, st->keylen) == 0;

	if (e->cert) {
		hit_set(&st->ca, e);
	} else if (e->revoked) {
		if (same)
			hit_set(&st->revoked, e);
	} else if (same) {
		hit_set(&st->match, e);
	} else if (st->type && strcmp(e->type, st->type) == 0) {
		hit_set(&st->mismatch, e);
	} else {
		st->other_types = TRUE;
	}
}

int khosts_check(const char *const *files, const char *host, int port,
		 const unsigned char *key, size_t keylen,
		 struct khosts_check *out, GError **err)
{
	struct check_state st = { .key = key, .keylen = keylen };
	const struct hit *h = NULL;
	char *name, *type;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	name = lookup_name(host, port);
	type = khosts_key_type(key, keylen);
	st.type = type;
	/* A revoked key loses even to a MATCH in an earlier file, so every
	 * file is read before deciding. */
	for (; files && *files && rc == 0; files++)
		rc = foreach_file(*files, name, check_cb, &st, err);
	g_free(type);
	g_free(name);
	if (rc < 0)
		return -1;

	if (st.revoked.file) {
		out->result = KHOSTS_REVOKED;
		h = &st.revoked;
	} else if (st.match.file) {
		out->result = KHOSTS_MATCH;
		h = &st.match;
	} else if (st.mismatch.file) {
		out->result = KHOSTS_MISMATCH;
		h = &st.mismatch;
	} else {
		out->result = KHOSTS_NOTFOUND;
		out->other_types = st.other_types;
		if (st.ca.file) {
			out->ca_file = g_strdup(st.ca.file);
			out->ca_line = st.ca.line;
		}
	}
	if (h) {
		out->file = g_strdup(h->file);
		out->line = h->line;
	}
	return 0;
}

int khosts_key_listed(const char *file, const unsigned char *key,
		      size_t keylen, unsigned *line, GError **err)
{
	char *buf, *p, *nl, *end;
	gsize len;
	unsigned lineno = 0;
	int found = 0;

	*line = 0;
	if (!g_file_get_contents(file, &buf, &len, err))
		return -1;
	if (len >= 6 && !memcmp(buf, "SSHKRL", 6)) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s is a key "
			    "revocation list, which rfs cannot read", file);
		g_free(buf);
		return -1;
	}
	end = buf + len;
	for (p = buf; p < end && !found; p = nl + 1) {
		char *type, *k64;
		unsigned char *blob;
		gsize bloblen;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		*nl = '\0';
		lineno++;
		type = next_field(&p);
		k64 = type && *type != '#' ? next_field(&p) : NULL;
		blob = k64 ? b64_decode(k64, &bloblen) : NULL;
		if (blob && bloblen == keylen && !memcmp(blob, key, keylen)) {
			found = 1;
			*line = lineno;
		}
		g_free(blob);
	}
	g_free(buf);
	return found;
}

void khosts_check_clear(struct khosts_check *out)
{
	if (!out)
		return;
	g_free(out->file);
	g_free(out->ca_file);
	memset(out, 0, sizeof(*out));
}

static void types_cb(const struct entry *e, void *data)
{
	GPtrArray *types = data;
	guint i;

	if (e->revoked || e->cert)
		return;
	for (i = 0; i < types->len; i++)
		if (strcmp(types->pdata[i], e->type) == 0)
			return;
	g_ptr_array_add(types, g_strdup(e->type));
}

char **khosts_known_types(const char *const *files, const char *host,
			  int port)
{
	GPtrArray *types = g_ptr_array_new();
	char *name = lookup_name(host, port);

	/* best effort: an unreadable file just contributes nothing */
	for (; files && *files; files++)
		foreach_file(*files, name, types_cb, types, NULL);
	g_free(name);
	g_ptr_array_add(types, NULL);
	return (char **)g_ptr_array_free(types, FALSE);
}

/* A host that would read back as a pattern, marker, comment or several
 * fields must not be written: it would change what the line means. */
static gboolean host_ok(const char *host)
{
	const char *p;

	if (!host || !*host || strchr("#@|!", *host))
		return FALSE;
	for (p = host; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f ||
		    strchr(",*?", *p))
			return FALSE;
	return TRUE;
}

static int set_errno_error(GError **err, const char *file, int e)
{
	g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s",
		    file, g_strerror(e));
	return -1;
}

/* One write(2) with O_APPEND, so concurrent appenders do not interleave
 * within a line; first a newline if the file lacks a final one. */
static int append_line(const char *file, const char *line, GError **err)
{
	struct stat sb;
	char last = '\n', *s;
	size_t len, off = 0;
	ssize_t n;
	int fd, e = 0;

	fd = open(file, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return set_errno_error(err, file, errno);
	if (fstat(fd, &sb) < 0)
		e = errno;
	else if (sb.st_size > 0 &&
		 (n = pread(fd, &last, 1, sb.st_size - 1)) != 1)
		e = n < 0 ? errno : EIO;
	s = g_strconcat(last == '\n' ? "" : "\n", line, NULL);
	len = strlen(s);
	while (e == 0 && off < len) {
		n = write(fd, s + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			e = n < 0 ? errno : EIO;
		else
			off += (size_t)n;
	}
	g_free(s);
	if (close(fd) < 0 && e == 0)
		e = errno;
	return e ? set_errno_error(err, file, e) : 0;
}

int khosts_add(const char *file, const char *host, int port,
	       const unsigned char *key, size_t keylen, gboolean hash,
	       GError **err)
{
	char *type, *name, *field, *k64, *dir, *line;
	guint8 salt[SHA1_LEN];
	size_t i;
	int rc;

	type = khosts_key_type(key, keylen);
	if (!type || !host_ok(host)) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
			    "%s: %s", file, type ? "host name not storable" :
			    "malformed host key");
		g_free(type);
		return -1;
	}
	name = lookup_name(host, port);
	if (hash) {
		/* the salt need not be secret, only fresh per line */
		if (getrandom(salt, sizeof(salt), 0) != (ssize_t)sizeof(salt))
			for (i = 0; i < sizeof(salt); i++)
				salt[i] = (guint8)g_random_int();
		field = hash_name(salt, name);
	} else {
		field = g_strdup(name);
	}
	k64 = g_base64_encode(key, keylen);
	line = g_strdup_printf("%s %s %s\n", field, type, k64);

	dir = g_path_get_dirname(file);
	if (g_mkdir_with_parents(dir, 0700) < 0)
		rc = set_errno_error(err, dir, errno);
	else
		rc = append_line(file, line, err);

	g_free(dir);
	g_free(line);
	g_free(k64);
	g_free(field);
	g_free(name);
	g_free(type);
	return rc;
}
