/*
 * Echo server on libwebsockets (Debian's libwebsockets-dev), for side-by-side
 * benchmarks with rlws. Usage: lws-echo PORT
 *
 * The first (default) protocol echoes every message whole: fragments are
 * gathered into a message, whole messages wait in a queue for the writeable
 * callback, text stays text and binary stays binary. Offers
 * permessage-deflate. One service thread, like `rlws serve -j 1`.
 * (RX flow control is not used: with permessage-deflate, lws 4.1.6 loses
 * data when RX is paused in the middle of a compressed frame.)
 *
 * Build: cc -O2 -o lws-echo lws_echo.c -lwebsockets
 */
#include <libwebsockets.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MESSAGE (16 * 1024 * 1024)

struct msg {
	struct msg *next;
	size_t len;
	int binary;
	unsigned char data[]; /* LWS_PRE + message */
};

struct pss {
	unsigned char *buf; /* message being gathered */
	size_t len, cap;
	int binary;
	struct msg *head, *tail; /* whole messages waiting to be written */
};

static int interrupted;

static int
callback_echo(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	      void *in, size_t len)
{
	struct pss *pss = (struct pss *)user;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		memset(pss, 0, sizeof(*pss));
		break;

	case LWS_CALLBACK_RECEIVE:
		if (lws_is_first_fragment(wsi)) {
			pss->len = 0;
			pss->binary = lws_frame_is_binary(wsi);
		}
		if (pss->len + len > MAX_MESSAGE)
			return -1;
		if (pss->len + len > pss->cap) {
			size_t cap = pss->cap ? pss->cap : 4096;
			unsigned char *nb;

			while (cap < pss->len + len)
				cap *= 2;
			nb = realloc(pss->buf, cap);
			if (!nb)
				return -1;
			pss->buf = nb;
			pss->cap = cap;
		}
		memcpy(pss->buf + pss->len, in, len);
		pss->len += len;
		if (lws_is_final_fragment(wsi) &&
		    !lws_remaining_packet_payload(wsi)) {
			struct msg *m = malloc(sizeof(*m) + LWS_PRE + pss->len);

			if (!m)
				return -1;
			m->next = NULL;
			m->len = pss->len;
			m->binary = pss->binary;
			memcpy(m->data + LWS_PRE, pss->buf, pss->len);
			if (pss->tail)
				pss->tail->next = m;
			else
				pss->head = m;
			pss->tail = m;
			pss->len = 0;
			lws_callback_on_writable(wsi);
		}
		break;

	case LWS_CALLBACK_SERVER_WRITEABLE: {
		struct msg *m = pss->head;

		if (!m)
			break;
		if (lws_write(wsi, m->data + LWS_PRE, m->len,
			      m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) <
		    (int)m->len)
			return -1;
		pss->head = m->next;
		if (!pss->head)
			pss->tail = NULL;
		free(m);
		if (pss->head)
			lws_callback_on_writable(wsi);
		break;
	}

	case LWS_CALLBACK_CLOSED:
		free(pss->buf);
		pss->buf = NULL;
		while (pss->head) {
			struct msg *m = pss->head;

			pss->head = m->next;
			free(m);
		}
		break;

	default:
		break;
	}
	return 0;
}

static struct lws_protocols protocols[] = {
	{ "echo", callback_echo, sizeof(struct pss), 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static const struct lws_extension extensions[] = {
	{ "permessage-deflate", lws_extension_callback_pm_deflate,
	  "permessage-deflate; client_no_context_takeover; client_max_window_bits" },
	{ NULL, NULL, NULL }
};

static void
sigint_handler(int sig)
{
	(void)sig;
	interrupted = 1;
}

int
main(int argc, const char **argv)
{
	struct lws_context_creation_info info;
	struct lws_context *context;

	signal(SIGINT, sigint_handler);
	signal(SIGTERM, sigint_handler);
	lws_set_log_level(LLL_ERR, NULL);

	memset(&info, 0, sizeof info);
	info.port = argc > 1 ? atoi(argv[1]) : 9103;
	info.iface = "127.0.0.1";
	info.protocols = protocols;
	info.extensions = extensions;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
	info.fd_limit_per_thread = 0;
	/* lws-echo PORT [CERT KEY]: TLS with that certificate. */
	if (argc > 3) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = argv[2];
		info.ssl_private_key_filepath = argv[3];
	}

	context = lws_create_context(&info);
	if (!context)
		return 1;
	while (!interrupted)
		if (lws_service(context, 0) < 0)
			break;
	lws_context_destroy(context);
	return 0;
}
