/* SPDX-License-Identifier: MIT */
/* syscall-server/kbtf.c: the running kernel's BTF, offered as the kernel
 * offers it.
 *
 * BTF_GET_NEXT_ID lists the kernel's vmlinux BTF after the segment's BTF
 * objects, with id SRV_KBTF_ID (2^31 - 1: the kernel numbers it 1, but the
 * segment's ids count from 1 and other tools know them), when
 * /sys/kernel/btf/vmlinux is readable.  BTF_GET_FD_BY_ID of it gives an fd of
 * this process (SRV_FD_KBTF) that OBJ_GET_INFO_BY_FD describes as the
 * kernel does: name "vmlinux", kernel_btf 1, the blob copied out on request
 * (libbpf's btf__load_from_kernel_by_id, bpftool btf show/dump).  It is
 * read-only: nothing else accepts it (a map or program naming it gets
 * EBADF, as for any fd that is not ours).  The blob is read once per
 * loader, on first use.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "internal.h"
#include "common/compiler.h"

#define VMLINUX_PATH "/sys/kernel/btf/vmlinux"

static pthread_mutex_t kbtf_lock = PTHREAD_MUTEX_INITIALIZER;
static char *kbtf_data;
static size_t kbtf_size;
static bool kbtf_tried;

/* the blob, read on first use; NULL when the kernel has none */
static const char *kbtf(size_t *size)
{
	pthread_mutex_lock(&kbtf_lock);
	if (!kbtf_tried) {
		int fd = srv_real.open(VMLINUX_PATH, O_RDONLY | O_CLOEXEC, 0);
		size_t cap = 8u << 20, n = 0;
		char *buf = NULL;

		kbtf_tried = true;
		if (fd >= 0)
			buf = malloc(cap);
		while (buf) {
			ssize_t r = read(fd, buf + n, cap - n);

			if (r <= 0)
				break;
			n += (size_t)r;
			if (n == cap) {
				char *nb = realloc(buf, cap * 2);

				if (!nb) {
					free(buf);
					buf = NULL;
					break;
				}
				buf = nb;
				cap *= 2;
			}
		}
		if (fd >= 0)
			srv_real.close(fd);
		if (buf && n >= 4 && (uint8_t)buf[0] == 0x9f && (uint8_t)buf[1] == 0xeb) {
			kbtf_data = buf;
			kbtf_size = n;
		} else {
			free(buf);
		}
	}
	pthread_mutex_unlock(&kbtf_lock);
	*size = kbtf_size;
	return kbtf_data;
}

bool srv_kbtf_available(void)
{
	size_t size;

	return kbtf(&size) != NULL;
}

int srv_kbtf_open(void)
{
	int fd;

	if (!srv_kbtf_available())
		return -ENOENT;
	fd = srv_real.open("/dev/null", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (!srv_fd(fd)) {
		srv_real.close(fd);
		return -EMFILE;
	}
	srv_fd(fd)->kind = SRV_FD_KBTF;
	return fd;
}

int srv_kbtf_info(struct bpf_btf_info *u, struct bpf_btf_info *k)
{
	size_t size;
	const char *data = kbtf(&size);

	if (!data)
		return -EBADF;
	k->id = SRV_KBTF_ID;
	k->btf = u->btf;
	k->btf_size = (uint32_t)size;
	k->kernel_btf = 1;
	k->name = u->name;
	k->name_len = sizeof("vmlinux") - 1; /* strlen, as the kernel reports it */
	/* as the kernel: what fits is copied, btf_size says how much there is */
	if (u->btf && u->btf_size)
		memcpy((void *)(uintptr_t)u->btf, data, u->btf_size < size ? u->btf_size : size);
	if (u->name && u->name_len) {
		size_t n = u->name_len < sizeof("vmlinux") ? u->name_len : sizeof("vmlinux");

		memcpy((void *)(uintptr_t)u->name, "vmlinux", n - 1);
		((char *)(uintptr_t)u->name)[n - 1] = 0;
		if (u->name_len < sizeof("vmlinux"))
			return -ENOSPC;
	}
	return 0;
}
