# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Edit a kernel command line inside the text of a file shared with others.

The boot configuration files hold command lines that users and other tools
wrote: edit_text() changes only the parameters asked for, where they stand,
and keeps every other byte (spacing, quoting, order) as it was. What the
result means is decided by cmdline's parse() and apply_changes().
"""

from __future__ import annotations

from ansible_collections.luo.liveupdate.plugins.module_utils import cmdline


def _spans(text):
    """(start, end, cmdline.Param) of every argument of text, "--" and the init arguments included."""
    spans = []
    pos = 0
    while pos < len(text) and cmdline.is_space(text[pos]):
        pos += 1
    while pos < len(text):
        param, after = cmdline.next_arg(text, pos)
        spans.append((pos, pos + len(param.raw), param))
        pos = after
    return spans


def _is_separator(param):
    return param.value is None and param.name == cmdline.INIT_SEPARATOR


def _param_count(spans):
    """How many of spans are kernel parameters (the arguments before the first "--")."""
    for index, (_start, _end, param) in enumerate(spans):
        if _is_separator(param):
            return index
    return len(spans)


def _cut(text, spans, index):
    """text without argument index and one run of whitespace next to it (before it, or after the first)."""
    start, end, _param = spans[index]
    if index > 0:
        return text[:spans[index - 1][1]] + text[end:]
    following = spans[1][0] if len(spans) > 1 else end
    return text[:start] + text[following:]


def _insert(text, word):
    """text with word added after the last kernel parameter (before "--", or before the trailing whitespace)."""
    spans = _spans(text)
    count = _param_count(spans)
    if count:
        start, end, param = spans[count - 1]
        if param.raw.count('"') % 2:
            closed = cmdline.close_quote(param)
            text, end = text[:start] + closed + text[end:], start + len(closed)
        return text[:end] + ' ' + word + text[end:]
    if spans:
        return text[:spans[0][0]] + word + ' ' + text[spans[0][0]:]
    end = len(text.rstrip(cmdline.WHITESPACE))
    return text[:end] + word + text[end:]


def _first_match(text, name, value=cmdline.ANY, skip=0):
    """(spans, index): the spans of text and the index of the occurrence of name (with value) after the first skip
    ones among the kernel parameters, or None."""
    spans = _spans(text)
    found = [index for index in range(_param_count(spans)) if cmdline.matches(spans[index][2], name, value)]
    return spans, (found[skip] if len(found) > skip else None)


def _cut_matches(text, name, value=cmdline.ANY, keep=0):
    """text without the occurrences of name (with value) after the first keep ones."""
    spans, index = _first_match(text, name, value, keep)
    while index is not None:
        text = _cut(text, spans, index)
        spans, index = _first_match(text, name, value, keep)
    return text


def _edit_one(text, change):
    if cmdline.is_satisfied(cmdline.parse(text), change):
        return text
    if not change.present:
        return _cut_matches(text, change.name, change.value)
    spans, index = _first_match(text, change.name)
    if index is None:
        return _insert(text, cmdline.render_param(cmdline.Param(change.name, change.value)))
    start, end, param = spans[index]
    text = text[:start] + cmdline.render_param(cmdline.Param(param.name, change.value)) + text[end:]
    return _cut_matches(text, change.name, keep=1)


def edit_text(text, changes):
    """text with changes applied where the parameters stand, every other byte kept as it was.

    The result reads as cmdline.apply_changes() on cmdline.parse(text): a parameter is replaced
    in place of its first occurrence, removed with the whitespace before it,
    and added after the last parameter. Raises ValueError when that cannot be
    done (an unclosed quote that cannot be closed).
    """
    edited = text
    for change in changes:
        edited = _edit_one(edited, change)
    if cmdline.parse(edited) != cmdline.apply_changes(cmdline.parse(text), changes):
        raise ValueError('editing %r in place did not give the requested parameters: fix its quoting first' % text)
    return edited
