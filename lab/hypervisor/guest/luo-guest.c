/* luo-guest: the lab's nested guest, a freestanding x86 program (no OS) booted by QEMU's -kernel
 * as a Multiboot image. It proves that a guest's RAM and CPU state survive the host's live
 * update: at boot it makes a random token and boot id that live only in its RAM, then prints
 *
 *   token=T counter=N boot_id=B uptime=U
 *
 * on COM1 once a second, counter and uptime counted by its own timer interrupt (the PIT, which
 * stops while QEMU is paused). A resumed guest goes on with the same token and boot id, the
 * counter one higher; a rebooted one prints "guest up:" again with new ones.
 *
 * With "fill" on its command line (QEMU's -append) it first writes all its RAM above 2 MiB with a
 * pattern made of its token and each word's address, as a guest that used its memory would leave
 * it (no zero pages for a migration to skip), prints "filled=MiB seconds=S", and after each
 * counter line prints
 *
 *   rtc=HH:MM:SS mem=ok|BAD
 *
 * the wall clock it reads from the emulated RTC (which follows the host's: a pause shows as a jump)
 * and whether 64 words spread over the filled RAM, a different sample each second, still hold the
 * pattern.
 *
 * Why not Linux: under TCG inside a TCG VM a distribution-sized kernel took from minutes to
 * over twenty to reach init (timer calibration and the IO-APIC check busy-wait on ticks);
 * this program is up in well under a second of guest time and idles in HLT between ticks.
 */
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;
typedef unsigned long long u64;

#define COM1 0x3f8
#define HZ 50
#define PIT_HZ 1193182u

/* ---------------------------------------------------------------- Multiboot header and entry */

#define MB_MAGIC 0x1BADB002u
#define MB_FLAGS 0x2u /* ask for the memory size */
__attribute__((section(".multiboot"), used, aligned(4)))
static const u32 multiboot_header[3] = {MB_MAGIC, MB_FLAGS, (u32)-(MB_MAGIC + MB_FLAGS)};

__attribute__((used)) static u8 stack[16384] __attribute__((aligned(16)));
struct multiboot_info;
void guest_main(const struct multiboot_info *info);

/* Multiboot leaves the GDT undefined: load our own flat one before anything reloads a segment. */
__asm__(
    ".text\n"
    ".globl _start\n"
    "_start:\n"
    "  cli\n"
    "  lgdt gdt_descriptor\n"
    "  ljmp $0x08, $1f\n"
    "1:\n"
    "  mov $0x10, %ax\n"
    "  mov %ax, %ds\n  mov %ax, %es\n  mov %ax, %ss\n  mov %ax, %fs\n  mov %ax, %gs\n"
    "  mov $stack + 16384, %esp\n"
    "  push %ebx\n" /* the Multiboot information */
    "  call guest_main\n"
    "2: hlt\n  jmp 2b\n"
    /* IRQ 0 (PIT), remapped to vector 0x20. */
    ".globl timer_entry\n"
    "timer_entry:\n"
    "  pusha\n  cld\n  call timer_tick\n  popa\n  iret\n"
    /* Anything else the CPU raises: say so on the console and stop. */
    ".globl fault_entry\n"
    "fault_entry:\n"
    "  cld\n  call guest_fault\n"
    "3: cli\n  hlt\n  jmp 3b\n"
    /* The master PIC's spurious IRQ 7 needs no EOI. */
    ".globl spurious_entry\n"
    "spurious_entry:\n"
    "  iret\n");

struct __attribute__((packed)) table_descriptor {
  u16 limit;
  u32 base;
};

static const u64 gdt[3] = {
    0,
    0x00cf9a000000ffffULL, /* 0x08: code, base 0, 4 GiB, 32-bit */
    0x00cf92000000ffffULL, /* 0x10: data, base 0, 4 GiB */
};
__attribute__((used)) static const struct table_descriptor gdt_descriptor = {sizeof(gdt) - 1, (u32)gdt};

/* ---------------------------------------------------------------- ports */

static inline void outb(u16 port, u8 value) { __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port)); }
static inline u8 inb(u16 port) {
  u8 value;
  __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}

/* ---------------------------------------------------------------- serial console */

static void serial_init(void) {
  outb(COM1 + 1, 0x00); /* no UART interrupts: we poll */
  outb(COM1 + 3, 0x80); /* divisor latch */
  outb(COM1 + 0, 0x01); /* 115200 baud */
  outb(COM1 + 1, 0x00);
  outb(COM1 + 3, 0x03); /* 8N1 */
  outb(COM1 + 2, 0xc7); /* FIFO on */
}

static void put_char(char c) {
  while (!(inb(COM1 + 5) & 0x20)) {
  }
  outb(COM1, (u8)c);
}

static void put_text(const char *text) {
  while (*text)
    put_char(*text++);
}

static void put_hex(u64 value, int digits) {
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4)
    put_char("0123456789abcdef"[(value >> shift) & 0xf]);
}

static void put_decimal(u32 value) {
  char digits[10];
  int count = 0;
  do {
    digits[count++] = (char)('0' + value % 10);
    value /= 10;
  } while (value);
  while (count)
    put_char(digits[--count]);
}

/* ticks as seconds with two decimals */
static void put_seconds(u32 count) {
  put_decimal(count / HZ);
  put_char('.');
  u32 hundredths = count % HZ * 100 / HZ;
  put_char((char)('0' + hundredths / 10));
  put_char((char)('0' + hundredths % 10));
}

/* ---------------------------------------------------------------- randomness made at boot */

static inline u64 rdtsc(void) {
  u32 low, high;
  __asm__ volatile("rdtsc" : "=a"(low), "=d"(high));
  return ((u64)high << 32) | low;
}

static u64 mix(u64 state) { /* splitmix64's finaliser */
  state += 0x9e3779b97f4a7c15ULL;
  state = (state ^ (state >> 30)) * 0xbf58476d1ce4e5b9ULL;
  state = (state ^ (state >> 27)) * 0x94d049bb133111ebULL;
  return state ^ (state >> 31);
}

static u8 cmos_read(u8 reg) {
  outb(0x70, reg);
  return inb(0x71);
}

static int has_rdrand(void) {
  u32 eax = 1, ebx, ecx, edx;
  __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx));
  return (ecx >> 30) & 1;
}

static u32 rdrand32(void) {
  u32 value = 0;
  unsigned char ok = 0;
  for (int tries = 0; tries < 10 && !ok; tries++)
    __asm__ volatile("rdrand %0; setc %1" : "=r"(value), "=qm"(ok));
  return value;
}

/* The wall clock (from the host, through the emulated RTC), the time stamp counter's jitter
 * across slow port reads, and RDRAND where the CPU model has it. */
static u64 boot_entropy(void) {
  u64 state = rdtsc();
  for (u8 reg = 0; reg <= 9; reg++) {
    state = mix(state ^ ((u64)cmos_read(reg) << (8 * (reg % 8))));
    state = mix(state ^ rdtsc());
  }
  if (has_rdrand())
    state = mix(state ^ rdrand32() ^ ((u64)rdrand32() << 32));
  return state;
}

/* ---------------------------------------------------------------- interrupts */

struct __attribute__((packed)) gate {
  u16 offset_low, selector;
  u8 zero, type;
  u16 offset_high;
};

static struct gate idt[256];
void timer_entry(void);
void fault_entry(void);
void spurious_entry(void);

static void set_gate(int vector, void (*handler)(void)) {
  u32 address = (u32)handler;
  idt[vector] = (struct gate){(u16)address, 0x08, 0, 0x8e, (u16)(address >> 16)};
}

static void idt_init(void) {
  for (int vector = 0; vector < 256; vector++)
    set_gate(vector, fault_entry);
  set_gate(0x20, timer_entry);
  set_gate(0x27, spurious_entry);
  static struct table_descriptor descriptor;
  descriptor = (struct table_descriptor){sizeof(idt) - 1, (u32)idt};
  __asm__ volatile("lidt %0" : : "m"(descriptor));
}

/* The firmware left the PICs on the real-mode vectors (0x08..), which collide with CPU
 * exceptions in protected mode: move them to 0x20/0x28 and leave only IRQ 0 unmasked. */
static void pic_init(void) {
  outb(0x20, 0x11);
  outb(0xa0, 0x11);
  outb(0x21, 0x20);
  outb(0xa1, 0x28);
  outb(0x21, 0x04);
  outb(0xa1, 0x02);
  outb(0x21, 0x01);
  outb(0xa1, 0x01);
  outb(0x21, 0xfe);
  outb(0xa1, 0xff);
}

static void pit_init(void) {
  u32 divisor = (PIT_HZ + HZ / 2) / HZ;
  outb(0x43, 0x34); /* channel 0, lobyte/hibyte, rate generator */
  outb(0x40, (u8)divisor);
  outb(0x40, (u8)(divisor >> 8));
}

static volatile u32 ticks;

__attribute__((used)) void timer_tick(void) {
  ticks++;
  outb(0x20, 0x20); /* end of interrupt */
}

__attribute__((used)) void guest_fault(void) { put_text("guest fault: unexpected interrupt or exception, stopped\n"); }

/* ---------------------------------------------------------------- its RAM, filled and checked */

struct multiboot_info {
  u32 flags, mem_lower, mem_upper, boot_device, cmdline;
};
#define MB_INFO_MEMORY 0x1u
#define MB_INFO_CMDLINE 0x4u
#define FILL_START (2u << 20) /* above this program, its stack and its tables */

static u32 fill_end; /* 0: not filled */
static u32 fill_seed;

static inline u32 pattern(u32 address) { return (address * 2654435761u) ^ fill_seed; }

static int has_word(const char *text, const char *word) {
  for (const char *start = text; *start; start++) {
    if (start != text && start[-1] != ' ')
      continue;
    const char *a = start, *b = word;
    while (*b && *a == *b)
      a++, b++;
    if (!*b && (*a == ' ' || !*a))
      return 1;
  }
  return 0;
}

/* Every word from FILL_START to the end of RAM, eight at a time. */
static void fill_memory(u32 end) {
  for (u32 address = FILL_START; address < end; address += 32) {
    volatile u32 *word = (volatile u32 *)address;
    for (int i = 0; i < 8; i++)
      word[i] = pattern(address + 4u * (u32)i);
  }
  fill_end = end;
}

static int memory_intact(u32 round) {
  u32 span = (fill_end - FILL_START) / 4u;
  for (u32 i = 0; i < 64; i++) {
    u32 address = FILL_START + 4u * ((u32)mix(((u64)round << 32) | i) % span);
    if (*(volatile u32 *)address != pattern(address))
      return 0;
  }
  return 1;
}

static u32 bcd(u8 value) { return (value & 0x0f) + (value >> 4) * 10u; }

static void put_two(u32 value) { /* two digits */
  put_char((char)('0' + value / 10 % 10));
  put_char((char)('0' + value % 10));
}

/* The RTC's time of day, read twice until both reads agree (not torn by an update). */
static void put_rtc(void) {
  u8 now[3], again[3];
  do {
    while (cmos_read(0x0a) & 0x80) {
    }
    for (int i = 0; i < 3; i++)
      now[i] = cmos_read((u8)(4 - 2 * i));
    for (int i = 0; i < 3; i++)
      again[i] = cmos_read((u8)(4 - 2 * i));
  } while (now[0] != again[0] || now[1] != again[1] || now[2] != again[2]);
  int binary = cmos_read(0x0b) & 0x04;
  for (int i = 0; i < 3; i++) {
    if (i)
      put_char(':');
    put_two(binary ? now[i] : bcd(now[i]));
  }
}

/* ---------------------------------------------------------------- the guest */

static void put_boot_id(u64 high, u64 low) { /* formatted like a UUID */
  put_hex(high >> 32, 8);
  put_char('-');
  put_hex(high >> 16, 4);
  put_char('-');
  put_hex(high, 4);
  put_char('-');
  put_hex(low >> 48, 4);
  put_char('-');
  put_hex(low, 12);
}

void guest_main(const struct multiboot_info *info) {
  serial_init();
  u64 seed = boot_entropy();
  u64 token = mix(seed ^ 1), id_high = mix(seed ^ 2), id_low = mix(seed ^ 3);
  fill_seed = (u32)token;
  put_text("guest up: token=");
  put_hex(token, 16);
  put_text(" boot_id=");
  put_boot_id(id_high, id_low);
  put_char('\n');

  idt_init();
  pic_init();
  pit_init();
  __asm__ volatile("sti");

  if ((info->flags & MB_INFO_CMDLINE) && has_word((const char *)info->cmdline, "fill") && (info->flags & MB_INFO_MEMORY)) {
    u32 end = (1u << 20) + info->mem_upper * 1024u; /* below 4 GiB: a 32-bit guest */
    u32 started = ticks;
    fill_memory(end);
    put_text("filled=");
    put_decimal((end - FILL_START) >> 20);
    put_text(" seconds=");
    put_seconds(ticks - started);
    put_char('\n');
  }

  u32 counter = 0, next = HZ;
  for (;;) {
    __asm__ volatile("hlt");
    u32 now = ticks;
    if (now < next)
      continue;
    next = now - now % HZ + HZ;
    counter++;
    put_text("token=");
    put_hex(token, 16);
    put_text(" counter=");
    put_decimal(counter);
    put_text(" boot_id=");
    put_boot_id(id_high, id_low);
    put_text(" uptime=");
    put_seconds(now);
    put_char('\n');
    if (fill_end) {
      put_text("rtc=");
      put_rtc();
      put_text(memory_intact(counter) ? " mem=ok\n" : " mem=BAD\n");
    }
  }
}
