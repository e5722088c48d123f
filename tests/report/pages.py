"""Reading a report page back in the tests: the elements, their text and the inline data,
with Python's own HTML parser (a second reading, independent of how the page was made)."""

import json
from html.parser import HTMLParser


class Page(HTMLParser):
    """tags: [(tag, attrs dict)] in document order; scripts: the text of each <script>;
    text: the visible text; tables: {id or class: [[cell text]]} rows of each table;
    classes: the same for each cell's class attribute; rows: each row's class attribute."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags, self.scripts, self.text_parts, self.tables = [], [], [], {}
        self.classes, self.rows = {}, {}
        self._script = None
        self._table = self._classes = None
        self._cell = None
        self.feed(text)
        self.text = "".join(self.text_parts)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "script":
            self._script = [attrs, ""]
        elif tag == "table":
            key = attrs.get("id") or attrs.get("class", "").split()[0]
            self._table = self.tables.setdefault(key, [])
            self._classes = self.classes.setdefault(key, [])
            self._rows = self.rows.setdefault(key, [])
        elif tag == "tr" and self._table is not None:
            self._rows.append(attrs.get("class", ""))
            self._table.append([])
            self._classes.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
            self._classes[-1].append(attrs.get("class", ""))

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append(tuple(self._script))
            self._script = None
        elif tag in ("td", "th") and self._cell is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = self._classes = None

    def handle_data(self, data):
        if self._script is not None:
            self._script[1] += data
            return
        self.text_parts.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def data(self):
        """The page's inline JSON (the chart specifications)."""
        [text] = [s for a, s in self.scripts if a.get("id") == "nnctl-data"]
        return json.loads(text)

    def chart(self, chart_id):
        return next(c for c in self.data()["charts"] if c["id"] == chart_id)


def read_page(path):
    return Page(path.read_text(encoding="utf-8"))
