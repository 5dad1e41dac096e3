/* What hostile build code tries from inside gobox's sandbox; each step prints what the kernel answered.
 *
 * Built static by the tests (gcc -static), so it runs in any root: base "none", an image, or base "host".
 * Usage: hostile STEP [ARGS] [STEP [ARGS]...], steps run in order:
 *   tiocsti TEXT         push TEXT into the terminal input of fds 0, 1, 2 and /dev/tty (ioctl TIOCSTI)
 *   keyring ID           read key ID (a key of the caller's session keyring) with keyctl(KEYCTL_READ)
 *   open-w PATH          open PATH for writing, write nothing
 *   rewrite PATH         read PATH and write the same bytes back (a write that changes nothing)
 *   escape-limits        unshare user+mount+cgroup namespaces, mount the pids and memory cgroup
 *                        hierarchies, and lift pids.max and memory.limit_in_bytes
 *   lift-own DIR         lift pids.max and memory.limit_in_bytes of its own cgroups, found under DIR (a
 *                        bind of the host's /sys/fs/cgroup) by /proc/self/cgroup
 *   forkbomb N           fork N sleeping children, say how many it got, kill them
 *   hog MIB              allocate and touch MIB MiB
 *   sleep SECONDS        print "sleeping" and sleep
 *   write PATH           create PATH with "escaped\n"
 *   read PATH            say how many bytes PATH holds
 *   ls DIR               list DIR
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void say(const char *what, int ok) {
    if (ok)
        printf("%s: ok\n", what);
    else
        printf("%s: refused (%s)\n", what, strerror(errno));
    fflush(stdout);
}

static void tiocsti(int fd, const char *name, const char *text) {
    char what[64];
    int ok = 1;
    for (const char *c = text; *c && ok; c++)
        ok = ioctl(fd, TIOCSTI, c) == 0;
    snprintf(what, sizeof what, "tiocsti %s", name);
    say(what, ok);
}

static int write_file(const char *path, const char *data) {
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return 0;
    int ok = write(fd, data, strlen(data)) == (ssize_t)strlen(data);
    int saved = errno;
    close(fd);
    errno = saved;
    return ok;
}

static void escape_limits(void) {
    uid_t uid = getuid();
    gid_t gid = getgid();
    char map[64];
    say("unshare user+mount+cgroup", unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP) == 0);
    snprintf(map, sizeof map, "0 %u 1\n", uid);
    say("map uid 0", write_file("/proc/self/uid_map", map));
    write_file("/proc/self/setgroups", "deny");
    snprintf(map, sizeof map, "0 %u 1\n", gid);
    say("map gid 0", write_file("/proc/self/gid_map", map));
    mkdir("/tmp/cg-pids", 0755);
    mkdir("/tmp/cg-memory", 0755);
    say("mount cgroup pids", mount("cgroup", "/tmp/cg-pids", "cgroup", 0, "pids") == 0);
    say("lift pids.max", write_file("/tmp/cg-pids/pids.max", "max\n"));
    say("mount cgroup memory", mount("cgroup", "/tmp/cg-memory", "cgroup", 0, "memory") == 0);
    say("lift memory.limit_in_bytes", write_file("/tmp/cg-memory/memory.limit_in_bytes", "-1\n"));
}

static void lift_own(const char *dir) {
    char line[512];
    FILE *f = fopen("/proc/self/cgroup", "r");
    while (f && fgets(line, sizeof line, f)) {
        char *controllers = strchr(line, ':'), *path;
        if (!controllers || !(path = strchr(++controllers, ':')))
            continue;
        *path++ = 0;
        path[strcspn(path, "\n")] = 0;
        const char *file = !strcmp(controllers, "pids") ? "pids.max"
                         : !strcmp(controllers, "memory") ? "memory.limit_in_bytes" : NULL;
        if (!file)
            continue;
        char target[1024], what[1100];
        snprintf(target, sizeof target, "%s/%s%s/%s", dir, controllers, path, file);
        snprintf(what, sizeof what, "lift %s", file);
        say(what, write_file(target, !strcmp(file, "pids.max") ? "max\n" : "-1\n"));
    }
    if (f)
        fclose(f);
}

static void forkbomb(int n) {
    pid_t *kids = calloc(n, sizeof *kids);
    int got = 0;
    for (; got < n; got++) {
        pid_t p = fork();
        if (p < 0)
            break;
        if (p == 0) {
            pause();
            _exit(0);
        }
        kids[got] = p;
    }
    printf("forked %d of %d\n", got, n);
    fflush(stdout);
    for (int i = 0; i < got; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *step = argv[i];
        const char *arg = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(step, "tiocsti")) {
            i++;
            for (int fd = 0; fd < 3; fd++) {
                char name[8];
                snprintf(name, sizeof name, "fd%d", fd);
                tiocsti(fd, name, arg);
            }
            int tty = open("/dev/tty", O_RDWR);
            if (tty < 0)
                say("open /dev/tty", 0);
            else
                tiocsti(tty, "/dev/tty", arg);
        } else if (!strcmp(step, "keyring")) {
            i++;
            char buf[256] = {0};
            long n = syscall(SYS_keyctl, 11 /* KEYCTL_READ */, atol(arg), buf, sizeof buf - 1);
            if (n >= 0)
                printf("key read: %s\n", buf);
            else
                say("key read", 0);
        } else if (!strcmp(step, "open-w")) {
            i++;
            int fd = open(arg, O_WRONLY);
            char what[300];
            snprintf(what, sizeof what, "open-w %s", arg);
            say(what, fd >= 0);
            if (fd >= 0)
                close(fd);
        } else if (!strcmp(step, "rewrite")) {
            i++;
            char data[4096] = {0}, what[300];
            int fd = open(arg, O_RDONLY);
            ssize_t n = fd >= 0 ? read(fd, data, sizeof data - 1) : -1;
            if (fd >= 0)
                close(fd);
            snprintf(what, sizeof what, "rewrite %s", arg);
            say(what, n > 0 && write_file(arg, data));
        } else if (!strcmp(step, "escape-limits")) {
            escape_limits();
        } else if (!strcmp(step, "lift-own")) {
            i++;
            lift_own(arg);
        } else if (!strcmp(step, "forkbomb")) {
            i++;
            forkbomb(atoi(arg));
        } else if (!strcmp(step, "hog")) {
            i++;
            size_t size = (size_t)atol(arg) << 20;
            char *p = malloc(size);
            for (size_t off = 0; p && off < size; off += 4096)
                p[off] = 1;
            printf("allocated %s MiB\n", arg);
            fflush(stdout);
        } else if (!strcmp(step, "sleep")) {
            i++;
            printf("sleeping\n");
            fflush(stdout);
            sleep(atoi(arg));
        } else if (!strcmp(step, "write")) {
            i++;
            int fd = open(arg, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            char what[300];
            snprintf(what, sizeof what, "write %s", arg);
            say(what, fd >= 0 && write(fd, "escaped\n", 8) == 8);
        } else if (!strcmp(step, "read")) {
            i++;
            char buf[65536], what[300];
            long total = 0;
            ssize_t n = 0;
            int fd = open(arg, O_RDONLY);
            while (fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0)
                total += n;
            snprintf(what, sizeof what, "read %s", arg);
            if (fd < 0 || n < 0)
                say(what, 0);
            else
                printf("%s: %ld bytes\n", what, total);
            if (fd >= 0)
                close(fd);
        } else if (!strcmp(step, "ls")) {
            i++;
            DIR *d = opendir(arg);
            int any = 0;
            struct dirent *e;
            while (d && (e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                    printf("ls %s: %s\n", arg, e->d_name);
                    any = 1;
                }
            if (!d)
                say("ls", 0);
            else if (!any)
                printf("ls %s: (empty)\n", arg);
            if (d)
                closedir(d);
        } else {
            fprintf(stderr, "hostile: unknown step %s\n", step);
            return 2;
        }
    }
    return 0;
}
