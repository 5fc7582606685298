"""/v1's plain text (ui/web/present.py ``plain_text``): no markup a Markdown front end would run."""

from __future__ import annotations

import pytest

from ui.web.present import plain_text


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("<script>alert('t')</script> Desert cells", " Desert cells"),
        ("a <img src=x onerror=alert(1)> b", "a  b"),
        ("<STYLE>p{}</STYLE>x<!-- c -->y", "xy"),
        ("<a href='javascript:x'>click</a>", "click"),
        ("see [here](javascript:alert(1)) now", "see [here] (javascript:alert(1)) now"),
        ("![i](JavaScript:alert(1))", "![i] (JavaScript:alert(1))"),
        ("[x](&#106;avascript:alert(1))", "[x] (&#106;avascript:alert(1))"),  # entities
        ("[x](\n  data:text/html,x)", "[x] (data:text/html,x)"),
        ("[a [b] c](vbscript:x)", "[a [b] c] (vbscript:x)"),
        ("<javascript:alert(1)> and <https://x.org>", "javascript:alert(1) and <https://x.org>"),
        ("[1]: javascript:alert(1)\nsaid [1].", "\\[1]: javascript:alert(1)\nsaid [1]."),
        # what stays as it is: text, http(s) links, our markers and Sources lines
        ("[ok](https://x.org/a) and [ok2](http://x.org)", "[ok](https://x.org/a) and [ok2](http://x.org)"),
        ("3 < 5 and 6 > 4, A&B", "3 < 5 and 6 > 4, A&B"),
        ("Acharan [1].\n\nSources:\n[1] Title (9 March 2023) https://n.org/a?b=1&c=(2)",
         "Acharan [1].\n\nSources:\n[1] Title (9 March 2023) https://n.org/a?b=1&c=(2)"),
    ],
)  # fmt: skip
def test_markup_is_stripped_and_only_http_links_stay_links(given, expected):
    assert plain_text(given) == expected
