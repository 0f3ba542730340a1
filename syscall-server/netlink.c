/* SPDX-License-Identifier: MIT */
/* syscall-server/netlink.c: attaching a program to a real network device
 * (XDP, tc) is not something a userspace runtime can do, and it must say so
 * in words a user understands, not with the kernel's EINVAL for a /dev/null
 * fd.  libbpf attaches XDP (bpf_xdp_attach, `bpftool net attach xdp`, `ip
 * link set ... xdp`) and tc filters (bpf_tc_attach) with rtnetlink
 * messages; LINK_CREATE with BPF_XDP or a tcx/netkit type is answered in
 * bpf_cmd.c through srv_refuse_dev_attach().
 *
 * The send entry points (send, sendto, sendmsg) look at rtnetlink requests
 * that carry a program: RTM_SETLINK/RTM_NEWLINK with IFLA_XDP (its
 * IFLA_XDP_FD, -1 to detach included: nothing of ours is on a device) and
 * RTM_NEWTFILTER with a "bpf" filter whose TCA_BPF_FD is one of our fds.
 * Such a request never reaches the kernel: the socket gets the kernel's
 * error ack instead (NLMSG_ERROR, -EOPNOTSUPP, with the extended ack
 * message libbpf prints as "Kernel error message: ..."), returned by the
 * next recv/recvfrom/recvmsg on it (MSG_PEEK and MSG_TRUNC as the kernel
 * does them), and the server logs a line.  Every other message, and every
 * other socket, goes to the real libc untouched.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/rtnetlink.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/log.h"

#define EXPORT __attribute__((visibility("default")))

/* attach types of later kernels than our uapi headers (6.1) */
#define SRV_BPF_TCX_INGRESS    46
#define SRV_BPF_TCX_EGRESS     47
#define SRV_BPF_NETKIT_PRIMARY 54
#define SRV_BPF_NETKIT_PEER    55

#define ACK_MAX	    512
#define PENDING_MAX 8

/* an error ack waiting for the socket's next receive */
struct pending {
	int fd;
	ino_t ino; /* the socket it was for: a reused fd number is not it */
	size_t len;
	char buf[ACK_MAX];
};

static struct pending pending[PENDING_MAX];
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
/* acks waiting: receives look at the table only when there are some */
static _Atomic int npending;

static struct {
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
} real;

static void resolve(void)
{
	if (real.recvmsg)
		return;
	real.send = (typeof(real.send))dlsym(RTLD_NEXT, "send");
	real.sendto = (typeof(real.sendto))dlsym(RTLD_NEXT, "sendto");
	real.sendmsg = (typeof(real.sendmsg))dlsym(RTLD_NEXT, "sendmsg");
	real.recv = (typeof(real.recv))dlsym(RTLD_NEXT, "recv");
	real.recvfrom = (typeof(real.recvfrom))dlsym(RTLD_NEXT, "recvfrom");
	real.recvmsg = (typeof(real.recvmsg))dlsym(RTLD_NEXT, "recvmsg");
}

static const char *attach_type_name(uint32_t type)
{
	switch (type) {
	case BPF_XDP:
		return "XDP";
	case SRV_BPF_TCX_INGRESS:
		return "tcx ingress";
	case SRV_BPF_TCX_EGRESS:
		return "tcx egress";
	case SRV_BPF_NETKIT_PRIMARY:
	case SRV_BPF_NETKIT_PEER:
		return "netkit";
	}
	return NULL;
}

int srv_refuse_dev_attach(uint32_t attach_type, int prog_fd, int target)
{
	const char *what = attach_type_name(attach_type);

	if (!what)
		return 0;
	pr_warn("syscall server: LINK_CREATE of program fd %d as %s on ifindex %d refused: "
		"attaching "
		"to a real network device is not available in userspace (run the program with "
		"BPF_PROG_TEST_RUN, `bpftool prog run`)\n",
		prog_fd, what, target);
	return -EOPNOTSUPP;
}

/* the attribute of @type among those in [p, p + len), or NULL */
static const struct nlattr *find_attr(const void *p, size_t len, uint16_t type)
{
	while (len >= NLA_HDRLEN) {
		const struct nlattr *a = p;
		size_t al = a->nla_len, step = NLA_ALIGN(al);

		if (al < NLA_HDRLEN || al > len)
			return NULL;
		if ((a->nla_type & NLA_TYPE_MASK) == type)
			return a;
		if (step >= len)
			return NULL;
		p = (const char *)p + step;
		len -= step;
	}
	return NULL;
}

static const void *attr_data(const struct nlattr *a)
{
	return (const char *)a + NLA_HDRLEN;
}

static size_t attr_len(const struct nlattr *a)
{
	return a->nla_len - NLA_HDRLEN;
}

/* whether @nh asks for something we refuse; if so @what gets the message
 * for the ack (and the log) */
static bool refused(const struct nlmsghdr *nh, char *what, size_t size)
{
	const struct nlattr *a, *b;
	size_t hdr;
	int32_t fd;

	if (nh->nlmsg_type == RTM_SETLINK || nh->nlmsg_type == RTM_NEWLINK) {
		hdr = NLMSG_LENGTH(sizeof(struct ifinfomsg));
		if (nh->nlmsg_len < hdr)
			return false;
		a = find_attr((const char *)nh + NLMSG_ALIGN(hdr), nh->nlmsg_len - NLMSG_ALIGN(hdr),
			      IFLA_XDP);
		if (!a)
			return false;
		b = find_attr(attr_data(a), attr_len(a), IFLA_XDP_FD);
		if (!b || attr_len(b) < 4)
			return false;
		memcpy(&fd, attr_data(b), 4);
		if (fd >= 0 && !srv_is_ours(fd))
			return false; /* not one of our programs: the kernel's business */
		snprintf(what, size,
			 fd >= 0 ? "bpftime: XDP programs cannot be attached to a real network "
				   "device in userspace (run them with BPF_PROG_TEST_RUN, `bpftool "
				   "prog run`)"
				 : "bpftime: no XDP program of bpftime is on a real network device "
				   "(attaching to devices is not available in userspace)");
		return true;
	}
	if (nh->nlmsg_type == RTM_NEWTFILTER) {
		hdr = NLMSG_LENGTH(sizeof(struct tcmsg));
		if (nh->nlmsg_len < hdr)
			return false;
		a = find_attr((const char *)nh + NLMSG_ALIGN(hdr), nh->nlmsg_len - NLMSG_ALIGN(hdr),
			      TCA_OPTIONS);
		b = a ? find_attr(attr_data(a), attr_len(a), TCA_BPF_FD) : NULL;
		if (!b || attr_len(b) < 4)
			return false;
		memcpy(&fd, attr_data(b), 4);
		if (!srv_is_ours(fd))
			return false;
		snprintf(what, size,
			 "bpftime: tc programs cannot be attached to a real network device in "
			 "userspace (run them with BPF_PROG_TEST_RUN, `bpftool prog run`)");
		return true;
	}
	return false;
}

static bool is_rtnetlink(int fd, ino_t *ino)
{
	int domain = 0, proto = 0;
	socklen_t l1 = sizeof(domain), l2 = sizeof(proto);
	struct stat st;

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l1) || domain != AF_NETLINK ||
	    getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l2) || proto != NETLINK_ROUTE ||
	    fstat(fd, &st))
		return false;
	*ino = st.st_ino;
	return true;
}

/* the kernel's error ack for @req: NLMSG_ERROR with -EOPNOTSUPP, the
 * request's header (capped), and NLMSGERR_ATTR_MSG */
static size_t make_ack(int fd, const struct nlmsghdr *req, const char *msg, char *buf)
{
	struct sockaddr_nl self = { 0 };
	socklen_t sl = sizeof(self);
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct nlmsgerr *e = NLMSG_DATA(nh);
	struct nlattr *a = (struct nlattr *)((char *)e + NLMSG_ALIGN(sizeof(*e)));
	size_t mlen = strlen(msg) + 1, len;

	getsockname(fd, (struct sockaddr *)&self, &sl);
	len = NLMSG_LENGTH(NLMSG_ALIGN(sizeof(*e)) + NLA_ALIGN(NLA_HDRLEN + mlen));
	memset(buf, 0, len);
	nh->nlmsg_len = (uint32_t)len;
	nh->nlmsg_type = NLMSG_ERROR;
	nh->nlmsg_flags = NLM_F_CAPPED | NLM_F_ACK_TLVS;
	nh->nlmsg_seq = req->nlmsg_seq;
	nh->nlmsg_pid = self.nl_pid;
	e->error = -EOPNOTSUPP;
	e->msg = *req;
	a->nla_type = NLMSGERR_ATTR_MSG;
	a->nla_len = (uint16_t)(NLA_HDRLEN + mlen);
	memcpy((char *)a + NLA_HDRLEN, msg, mlen);
	return len;
}

/* a request of @len bytes at @buf on @fd: refused (an ack queued, logged)? */
static bool intercept(int fd, const void *buf, size_t len)
{
	const struct nlmsghdr *nh = buf;
	char what[256];
	struct pending *slot = NULL;
	ino_t ino;

	if (!srv.ready || !buf || len < NLMSG_HDRLEN || nh->nlmsg_len > len ||
	    nh->nlmsg_len < NLMSG_HDRLEN ||
	    (nh->nlmsg_type != RTM_SETLINK && nh->nlmsg_type != RTM_NEWLINK &&
	     nh->nlmsg_type != RTM_NEWTFILTER))
		return false;
	if (!is_rtnetlink(fd, &ino) || !refused(nh, what, sizeof(what)))
		return false;
	pr_warn("syscall server: netlink %s refused: %s\n",
		nh->nlmsg_type == RTM_NEWTFILTER ? "RTM_NEWTFILTER (tc bpf filter)"
						 : "RTM_SETLINK with IFLA_XDP",
		what + strlen("bpftime: "));
	pthread_mutex_lock(&pending_lock);
	for (size_t i = 0; i < PENDING_MAX && !slot; i++)
		if (!pending[i].len || pending[i].fd == fd)
			slot = &pending[i];
	if (!slot)
		slot = &pending[0]; /* eight sockets waiting: the oldest loses */
	if (!slot->len)
		atomic_fetch_add(&npending, 1);
	slot->fd = fd;
	slot->ino = ino;
	slot->len = make_ack(fd, nh, what, slot->buf);
	pthread_mutex_unlock(&pending_lock);
	return true;
}

/* copies a pending ack for @fd into @iov (as recvmsg: MSG_PEEK keeps it,
 * MSG_TRUNC returns its whole length); -1 when there is none */
static ssize_t take(int fd, const struct iovec *iov, size_t iovcnt, int flags, int *msg_flags)
{
	struct pending *p = NULL;
	size_t done = 0;
	ssize_t ret;
	struct stat st;

	if (!srv.ready || !atomic_load_explicit(&npending, memory_order_acquire))
		return -1;
	pthread_mutex_lock(&pending_lock);
	for (size_t i = 0; i < PENDING_MAX && !p; i++)
		if (pending[i].len && pending[i].fd == fd)
			p = &pending[i];
	if (p && (fstat(fd, &st) || st.st_ino != p->ino)) {
		p->len = 0; /* the socket it was for is gone */
		atomic_fetch_sub(&npending, 1);
		p = NULL;
	}
	if (!p) {
		pthread_mutex_unlock(&pending_lock);
		return -1;
	}
	for (size_t i = 0; i < iovcnt && done < p->len; i++) {
		size_t n = MIN(iov[i].iov_len, p->len - done);

		memcpy(iov[i].iov_base, p->buf + done, n);
		done += n;
	}
	if (msg_flags)
		*msg_flags = done < p->len ? MSG_TRUNC : 0;
	ret = (ssize_t)((flags & MSG_TRUNC) ? p->len : done);
	if (!(flags & MSG_PEEK)) {
		p->len = 0;
		atomic_fetch_sub(&npending, 1);
	}
	pthread_mutex_unlock(&pending_lock);
	return ret;
}

static void kernel_addr(struct sockaddr *addr, socklen_t *alen)
{
	struct sockaddr_nl k = { .nl_family = AF_NETLINK };

	if (!addr || !alen)
		return;
	memcpy(addr, &k, MIN((size_t)*alen, sizeof(k)));
	*alen = sizeof(k);
}

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	resolve();
	if (intercept(fd, buf, len))
		return (ssize_t)len;
	return real.send(fd, buf, len, flags);
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
		      socklen_t alen)
{
	resolve();
	if (intercept(fd, buf, len))
		return (ssize_t)len;
	return real.sendto(fd, buf, len, flags, addr, alen);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	resolve();
	/* rtnetlink requests come in one piece (libbpf, iproute2) */
	if (msg && msg->msg_iovlen >= 1 &&
	    intercept(fd, msg->msg_iov[0].iov_base, msg->msg_iov[0].iov_len)) {
		size_t total = 0;

		for (size_t i = 0; i < msg->msg_iovlen; i++)
			total += msg->msg_iov[i].iov_len;
		return (ssize_t)total;
	}
	return real.sendmsg(fd, msg, flags);
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	struct iovec iov = { buf, len };
	ssize_t n;

	resolve();
	n = take(fd, &iov, 1, flags, NULL);
	return n >= 0 ? n : real.recv(fd, buf, len, flags);
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
			socklen_t *alen)
{
	struct iovec iov = { buf, len };
	ssize_t n;

	resolve();
	n = take(fd, &iov, 1, flags, NULL);
	if (n < 0)
		return real.recvfrom(fd, buf, len, flags, addr, alen);
	kernel_addr(addr, alen);
	return n;
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	ssize_t n;

	resolve();
	n = msg ? take(fd, msg->msg_iov, msg->msg_iovlen, flags, &msg->msg_flags) : -1;
	if (n < 0)
		return real.recvmsg(fd, msg, flags);
	kernel_addr(msg->msg_name, &msg->msg_namelen);
	msg->msg_controllen = 0;
	return n;
}
