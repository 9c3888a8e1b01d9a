; catch2600.asm - Catch, a 2K Atari 2600 game written for this project (issue #17), so that
; the whole path of a real cartridge, ROM bytes -> emulator -> pixels -> DQN, is tested with no
; ROM from outside. Played as `ale:catch2600`; its rules are the catch2600 entry of
; envs/atari2600/games.cpp. Public domain (CC0).
;
; Assemble with Debian's dasm:  dasm catch2600.asm -f3 -ocatch2600.bin
; The .bin is committed beside this file (the build does not need dasm); after a change, rebuild
; it, update the MD5 in games.cpp and remake the golden (tests/atari2600/goldens/make_goldens.sh).
;
; The game: a white ball 8 px wide and 8 lines tall falls from the top at 2 lines per frame,
; at a column drawn from an LFSR; the green paddle (24 px, 8 lines) at the bottom moves 3 px
; per frame while the joystick is held RIGHT or LEFT. A ball whose bottom reaches the paddle's
; row is caught (+1) if the two overlap by a pixel, else missed (-1); the next ball drops at
; once. Ten balls make a game; after the tenth the game is over and stays frozen (no ball).
; The console's RESET switch restarts the game, and it is held down in the last frames of
; ALE's reset protocol, so every episode's first step sees the first ball at the top.
; Timing for an agent stepping 4 frames: a ball falls 162 lines in 81 frames (about 20
; steps); the paddle crosses its whole range (136 px) in 46 frames (12 steps).
;
; RAM map (what the game table reads):
;   $80 rnd      8-bit Galois LFSR (taps $B8), never 0; clocked once per frame, and once more
;                in any frame with the joystick pushed left or right. The reset code clears
;                all RAM but this byte: ALE's reset_game restarts the program from its reset
;                vector without touching RIOT RAM, so each episode goes on with the sequence
;                where the last one left it (a power-on takes ALE's random RAM byte; 0, the
;                LFSR's dead state, becomes $5A).
;   $81 caught   balls caught    \  score = caught - missed (reward = its change)
;   $82 missed   balls missed    /
;   $83 left     balls still to come, counting the one in the air (10 .. 0) = lives
;   $84 over     1 once the tenth ball has landed (terminal), else 0
;   $85 ballx    ball's left edge, in screen pixels (12..152)
;   $86 bally    ball's top line in the kernel (8 .. 168; 200 = no ball, drawn nowhere)
;   $87 padx     paddle's left edge, in screen pixels (12..136)
;   $88 gball, $89 gpad   the next kernel line's graphics, computed before its WSYNC
;
; Frame: 3 lines VSYNC, 37 lines VBLANK (TIM64T 43: game logic, then both objects placed by the
; divide-by-15 RESPx loop and one HMOVE), 192 kernel lines, 30 lines overscan (TIM64T 35):
; 262 lines, NTSC. The kernel stores GRP0/GRP1 right after WSYNC so a line never changes its
; graphics mid-picture.

        processor 6502

VSYNC   = $00
VBLANK  = $01
WSYNC   = $02
NUSIZ0  = $04
NUSIZ1  = $05
COLUP0  = $06
COLUP1  = $07
COLUBK  = $09
RESP0   = $10
GRP0    = $1B
GRP1    = $1C
HMP0    = $20
HMOVE   = $2A
HMCLR   = $2B
SWCHA   = $0280
SWCHB   = $0282
INTIM   = $0284
TIM64T  = $0296

rnd     = $80
caught  = $81
missed  = $82
left    = $83
over    = $84
ballx   = $85
bally   = $86
padx    = $87
gball   = $88
gpad    = $89

BALLS   = 10
TOPY    = 8             ; a new ball's top line
FALL    = 2             ; lines per frame
PADY    = 176           ; the paddle's first line; it is 8 lines tall
HITY    = PADY - 8 + 1  ; a ball with bally >= HITY touches the paddle's row: resolved
PADW    = 24            ; quad-width player, 6 pixels set
SPEED   = 3
PADMAX  = 160 - PADW
FIELDX  = 12            ; the leftmost pixel either object reaches (see PosObject)
; PosObject(A) puts a normal-width player 0 at pixel A + 3 and the quad-width player 1 at
; pixel A + 12 (measured with ale-oracle); RAM keeps pixels, so the ball is placed with
; ballx - 3 and the paddle with padx - 12, and the paddle's leftmost pixel is 12: the field is
; pixels 12..159 for both.
P0OFF   = 3
P1OFF   = 12
NOBALL  = 200

        seg code
        org $F800

Reset:
        sei
        cld
        ldy rnd         ; kept across the clear (see the RAM map)
        ldx #0
        txa
.clear: dex             ; zero $00-$FF (TIA registers and RAM); ends with S = $FF
        txs
        pha
        bne .clear
        tya
        bne .seeded
        lda #$5A
.seeded:
        sta rnd
        jsr StartGame
        lda #$0E        ; white ball
        sta COLUP0
        lda #$C8        ; green paddle
        sta COLUP1
        lda #7          ; player 1 quad width
        sta NUSIZ1

Frame:
        lda #2
        sta VBLANK
        sta VSYNC
        sta WSYNC
        sta WSYNC
        sta WSYNC
        lda #0
        sta VSYNC
        lda #43
        sta TIM64T

        jsr Rand        ; once per frame
        lda SWCHB
        lsr             ; bit 0 clear = RESET pressed
        bcs .noreset
        jsr StartGame
        jmp .placed
.noreset:
        lda over
        bne .placed     ; game over: nothing moves
        lda SWCHA
        and #$C0
        cmp #$C0
        beq .nojoy
        jsr Rand        ; once more when pushed left or right
.nojoy:
        lda SWCHA
        bmi .noright    ; bit 7 clear = P0 right
        lda padx
        clc
        adc #SPEED
        cmp #(PADMAX + 1)
        bcc .r1
        lda #PADMAX
.r1:    sta padx
.noright:
        bit SWCHA
        bvs .noleft     ; bit 6 clear = P0 left
        lda padx
        sec
        sbc #SPEED      ; padx >= FIELDX, no borrow
        cmp #FIELDX
        bcs .l1
        lda #FIELDX
.l1:    sta padx
.noleft:
        lda bally
        clc
        adc #FALL
        sta bally
        cmp #HITY
        bcc .placed
        ; the ball reaches the paddle's row: caught when [ballx, ballx+8) meets [padx, padx+24)
        lda ballx
        clc
        adc #8
        cmp padx
        beq .miss
        bcc .miss
        lda padx
        clc
        adc #PADW
        cmp ballx
        beq .miss
        bcc .miss
        inc caught
        jmp .landed
.miss:  inc missed
.landed:
        dec left
        bne .next
        lda #1
        sta over
        lda #NOBALL
        sta bally
        jmp .placed
.next:  jsr NewBall
.placed:
        lda ballx
        sec
        sbc #P0OFF
        ldx #0
        jsr PosObject
        lda padx
        sec
        sbc #P1OFF
        ldx #1
        jsr PosObject
        sta WSYNC
        sta HMOVE

.vb:    lda INTIM
        bne .vb
        sta WSYNC
        sta HMCLR
        lda #0
        sta VBLANK

        ldx #0          ; kernel line 0..191
Kernel:
        txa             ; ball graphics: (line - bally) < 8
        sec
        sbc bally
        cmp #8
        lda #0
        bcs .nb
        lda #$FF
.nb:    sta gball
        txa             ; paddle graphics: (line - PADY) < 8
        sec
        sbc #PADY
        cmp #8
        lda #0
        bcs .np
        lda #%00111111
.np:    sta gpad
        sta WSYNC
        lda gball
        sta GRP0
        lda gpad
        sta GRP1
        inx
        cpx #192
        bne Kernel

        sta WSYNC
        lda #2
        sta VBLANK
        lda #0
        sta GRP0
        sta GRP1
        lda #35
        sta TIM64T
.os:    lda INTIM
        bne .os
        jmp Frame

; A new game: no score, ten balls, the paddle in the middle, the first ball at the top.
StartGame:
        lda #0
        sta caught
        sta missed
        sta over
        lda #BALLS
        sta left
        lda #((FIELDX + PADMAX) / 2)
        sta padx
        jmp NewBall

; A = the LFSR's next value (also in rnd).
Rand:
        lda rnd
        lsr
        bcc .nt
        eor #$B8
.nt:    sta rnd
        rts

; A new ball at the top, at column rnd in 12..152 (other values are drawn again).
NewBall:
.again: jsr Rand
        cmp #(160 - 8 + 1)
        bcs .again
        cmp #FIELDX
        bcc .again
        sta ballx
        lda #TOPY
        sta bally
        rts

; Places object X (0 = player 0, 1 = player 1) at column A: coarse by RESPx after a loop of
; 15 colour clocks per turn, fine by HMPx (applied by the HMOVE after both are placed).
PosObject:
        sta WSYNC
        sec
.div:   sbc #15
        bcs .div
        eor #7
        asl
        asl
        asl
        asl
        sta HMP0,x
        sta RESP0,x
        rts

        org $FFFC
        .word Reset
        .word Reset
