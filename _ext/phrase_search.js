/*
 * 中文短语搜索（_ext/search_dict.py 把这段代码放进 language_data.js；
 * 搜索页先载入 searchtools.js、再载入 language_data.js，所以这里的定义生效）。
 *
 * 1. splitQuery：读者常把整句话连着输入（“张量的形状”）。索引里的词是构建时
 *    jieba 切出来的，这里把查询里连续的汉字按索引自己的词表切开（正向最大匹配），
 *    切法就与索引一致；整段本身就是索引里的词时原样保留（精确搜索照旧）。
 *    词表里没有的单字（“的”“要”）跳过；切出多字词时，单字词也跳过。
 * 2. 短语里的词不必每个都出现在同一页：含有其中任何一个词的页面都列出。
 *    含有完整短语的页面排在最前，其次按含有的词数，再按词频（取对数）乘以
 *    词的少见程度（含有它的页越少越重）。页面正文（去掉空白、转成小写）在
 *    _static/dlbook-page-text.js 里，只有搜索页载入；没有它时退回 Sphinx
 *    原来的做法。
 */
var DLBOOK_MAX_WORD = 8;

function dlbookVocabulary() {
  if (typeof Search === "undefined" || !Search._index) return null;
  if (!Search._dlbookVocabulary) {
    Search._dlbookVocabulary = new Set([
      ...Object.keys(Search._index.terms),
      ...Object.keys(Search._index.titleterms),
    ]);
  }
  return Search._dlbookVocabulary;
}

function dlbookSegment(run, vocabulary) {
  if (vocabulary.has(run)) return [run];
  const words = [];
  let start = 0;
  while (start < run.length) {
    let end = Math.min(run.length, start + DLBOOK_MAX_WORD);
    while (end > start + 1 && !vocabulary.has(run.slice(start, end))) end--;
    const word = run.slice(start, end);
    if (vocabulary.has(word)) words.push(word);
    start = end;
  }
  const long = words.filter((word) => word.length > 1);
  if (long.length) return long;
  return words.length ? words : [run];
}

var splitQuery = (query) => {
  const parts = query
    .split(/[^\p{Letter}\p{Number}_\p{Emoji_Presentation}]+/gu)
    .filter((term) => term);
  const vocabulary = dlbookVocabulary();
  if (!vocabulary) return parts;
  const terms = [];
  for (const part of parts) {
    for (const run of part.match(/\p{Script=Han}+|[^\p{Script=Han}]+/gu)) {
      if (/\p{Script=Han}/u.test(run)) terms.push(...dlbookSegment(run, vocabulary));
      else terms.push(run);
    }
  }
  return [...new Set(terms)];
};

if (typeof Search !== "undefined") {
  const dlbookParseQuery = Search._parseQuery;
  Search._parseQuery = (query) => {
    Search._dlbookPhrase = query.replace(/\s+/g, "").toLowerCase();
    return dlbookParseQuery(query);
  };

  const dlbookTermsSearch = Search.performTermsSearch;
  Search.performTermsSearch = (searchTerms, excludedTerms) => {
    const texts = window.DLBOOK_PAGE_TEXT;
    if (!texts) return dlbookTermsSearch(searchTerms, excludedTerms);
    const index = Search._index;
    const terms = [...searchTerms];
    const pages = index.docnames.map((name) => texts[name] || "");
    // 正文里出现的次数；正文里没有、索引里有（代码、参考文献等）时算一次
    const indexed = terms.map(
      (term) =>
        new Set(dlbookTermsSearch(new Set([term]), excludedTerms).map((r) => r[0]))
    );
    const counts = terms.map((term, k) =>
      pages.map(
        (text, i) =>
          text.split(term).length - 1 || (indexed[k].has(index.docnames[i]) ? 1 : 0)
      )
    );
    // 词越少见，权重越大（含有它的页数越少）
    const rarity = counts.map((perPage) => {
      const found = perPage.filter((n) => n > 0).length;
      return Math.log(1 + pages.length / Math.max(found, 1));
    });
    const phrase = Search._dlbookPhrase || "";
    const results = [];
    pages.forEach((text, i) => {
      if ([...excludedTerms].some((term) => text.includes(term))) return;
      let present = 0;
      let weight = 0;
      terms.forEach((term, k) => {
        const n = counts[k][i];
        if (n) {
          present += 1;
          weight += Math.log(1 + n) * rarity[k];
        }
      });
      if (!present) return;
      const whole = phrase.length > 1 && text.includes(phrase);
      const score = (whole ? 10000 : 0) + 100 * present + Math.round(10 * weight);
      results.push([index.docnames[i], index.titles[i], "", null, score, index.filenames[i]]);
    });
    return results;
  };
}

// 直接打开文件（file://）时，浏览器不许搜索页读取别的页面（CORS），
// 各条结果下的摘要取不到、还会在控制台报错：这时不去取，结果照样按上面的分数排好。
if (location.protocol === "file:" && typeof DOCUMENTATION_OPTIONS !== "undefined") {
  DOCUMENTATION_OPTIONS.SHOW_SEARCH_SUMMARY = false;
}
