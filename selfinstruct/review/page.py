"""The review page: one task at a time, labelled with the keyboard.

Task text is generated and so hostile: the script puts it in the page with textContent only, never as
HTML, and the Content-Security-Policy (sent as a header and in the page) lets only this one script run,
by its hash, and fetch only from this server. The token travels in a data attribute, so the script,
and its hash, stay the same for every server.
"""

from __future__ import annotations

import base64
import hashlib
import html

KEYS = [
    ("j  or  →", "next task"),
    ("k  or  ←", "previous task"),
    ("n", "next task not fully labelled"),
    ("1  2  3", "instruction / input / output: valid"),
    ("q  w  e", "instruction / input / output: invalid"),
    ("a", "all three valid"),
    ("x", "clear this task's labels"),
]

SCRIPT = r"""
(function(){
var B=document.body, TOKEN=B.getAttribute('data-token'), Q=['instruction','input','output'];
var SET={'1':['instruction_ok',true],'2':['input_ok',true],'3':['output_ok',true],
         'q':['instruction_ok',false],'w':['input_ok',false],'e':['output_ok',false]};
var tasks=[], labels={}, pos=0, pending=0;
function $(id){return document.getElementById(id);}
function el(tag,cls,text){var e=document.createElement(tag);if(cls)e.className=cls;
  if(text!==undefined&&text!==null)e.textContent=String(text);return e;}
function api(method,path,body){
  return fetch(path,{method:method,headers:{'Content-Type':'application/json','X-Review-Token':TOKEN},
    body:body?JSON.stringify(body):undefined}).then(function(r){return r.json().then(function(j){
      if(!r.ok)throw new Error(j.error||r.statusText);return j;});});}
function say(text,bad){var s=$('status');s.textContent=text;s.className=bad?'bad':'';}
function stateOf(v){return v===true?'valid':v===false?'invalid':'unset';}
function done(id){var l=labels[id];return !!l&&Q.every(function(q){return l[q+'_ok']===true||l[q+'_ok']===false;});}
function render(){
  var t=tasks[pos];B.setAttribute('data-pending',String(pending));
  var n=tasks.filter(function(x){return done(x.id);}).length;
  $('pos').textContent=tasks.length?('task '+(pos+1)+' of '+tasks.length+' \u00b7 '+n+' fully labelled'):'no tasks';
  if(!t)return;
  B.setAttribute('data-task',t.id);B.setAttribute('data-pos',String(pos));
  var meta=$('meta');meta.textContent='';
  [t.accepted?'accepted':'rejected','round '+t.round,t.strategy,
   t.is_classification===null?'':(t.is_classification?'classification':'generation'),'id '+t.id
  ].forEach(function(x){if(x)meta.appendChild(el('span','tag',x));});
  $('reason').textContent=t.accepted?'':'rejected: '+(t.reject_reason||'?');
  var ck=$('checks');ck.textContent='';
  Object.keys(t.checks||{}).forEach(function(k){var r=el('tr');r.appendChild(el('td','k','check: '+k));
    r.appendChild(el('td','',t.checks[k]));ck.appendChild(r);});
  Object.keys(t.scores||{}).forEach(function(k){var r=el('tr');r.appendChild(el('td','k','score: '+k));
    r.appendChild(el('td','',t.scores[k]));ck.appendChild(r);});
  var inst=(t.instances||[])[0]||{input:'',output:''}, l=labels[t.id]||{};
  var text={instruction:t.instruction,input:inst.input||'(empty)',output:inst.output};
  Q.forEach(function(q){var box=$('q-'+q), s=stateOf(l[q+'_ok']);
    box.setAttribute('data-state',s);box.querySelector('.state').textContent=s==='unset'?'not set':s;
    box.querySelector('pre').textContent=text[q];});
  var more=$('more');more.textContent='';
  (t.instances||[]).slice(1).forEach(function(x,i){more.appendChild(el('b','','instance '+(i+2)+' (not labelled)'));
    more.appendChild(el('pre','',(x.input?'input: '+x.input+'\n':'')+'output: '+x.output));});
  $('by').textContent=l.annotator?('last labelled by '+l.annotator+' at '+l.updated):'';
}
function set(fields){
  var t=tasks[pos];if(!t)return;var id=t.id;
  labels[id]=Object.assign({},labels[id]||{},fields);pending++;say('saving\u2026');render();
  api('POST','/api/label',{id:id,fields:fields}).then(function(row){labels[id]=row;pending--;
    say(pending?'saving\u2026':'saved');render();}).catch(function(e){pending--;
    say('NOT saved: '+e.message,true);refresh();});}
function move(d){if(!tasks.length)return;pos=Math.max(0,Math.min(tasks.length-1,pos+d));
  history.replaceState(null,'','#'+tasks[pos].id);render();window.scrollTo(0,0);}
function nextOpen(){for(var i=1;i<=tasks.length;i++){var j=(pos+i)%tasks.length;
  if(!done(tasks[j].id)){move(j-pos);return;}}say('every task is fully labelled');}
function refresh(){if(pending)return;api('GET','/api/labels').then(function(d){if(!pending){labels=d;render();}})
  .catch(function(e){say('could not load labels: '+e.message,true);});}
document.addEventListener('keydown',function(ev){
  if(ev.ctrlKey||ev.metaKey||ev.altKey)return;
  var k=ev.key.length===1?ev.key.toLowerCase():ev.key;
  if(k==='j'||k==='ArrowRight')move(1);else if(k==='k'||k==='ArrowLeft')move(-1);
  else if(k==='n')nextOpen();
  else if(SET[k]){var f={};f[SET[k][0]]=SET[k][1];set(f);}
  else if(k==='a')set({instruction_ok:true,input_ok:true,output_ok:true});
  else if(k==='x')set({instruction_ok:null,input_ok:null,output_ok:null});
  else return;
  ev.preventDefault();});
window.addEventListener('focus',refresh);
document.addEventListener('visibilitychange',function(){if(!document.hidden)refresh();});
api('GET','/api/tasks').then(function(d){tasks=d.tasks;labels=d.labels;
  $('who').textContent='annotator: '+d.annotator+' \u00b7 run '+d.run;
  var at=tasks.findIndex(function(x){return '#'+x.id===location.hash;});pos=at<0?0:at;
  render();B.setAttribute('data-ready','1');}).catch(function(e){say('could not load tasks: '+e.message,true);});
})();
"""
SCRIPT_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
CSP = (
    f"default-src 'none'; script-src 'sha256-{SCRIPT_HASH}'; style-src 'unsafe-inline'; connect-src 'self'; "
    "img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1000px;padding:12px 24px;color:#222}
header{display:flex;gap:16px;align-items:baseline;flex-wrap:wrap;border-bottom:2px solid #e0e0e0}
h1{font-size:20px;margin:6px 0}#status{color:#2e7d32}#status.bad{color:#b71c1c;font-weight:600}
.tag{display:inline-block;background:#eee;border-radius:4px;padding:0 6px;margin-right:6px;font-size:12px}
#reason{color:#b71c1c;font-weight:600}table{border-collapse:collapse;font-size:13px;margin:6px 0}
td{border:1px solid #ddd;padding:2px 8px;vertical-align:top}td.k{color:#555;white-space:nowrap}
.q{border:2px solid #ccc;border-radius:6px;margin:8px 0;padding:4px 10px}
.q[data-state=valid]{border-color:#2e7d32}.q[data-state=invalid]{border-color:#c62828}
.q h2{font-size:15px;margin:2px 0}.state{font-size:12px;margin-left:8px;padding:0 6px;border-radius:4px;background:#eee}
.q[data-state=valid] .state{background:#c8e6c9}.q[data-state=invalid] .state{background:#ffcdd2}
pre{white-space:pre-wrap;word-break:break-word;background:#fafafa;margin:4px 0;padding:6px;font-size:13px;
max-height:22em;overflow:auto}
.keys td:first-child{font-family:monospace;white-space:nowrap}.muted{color:#666;font-size:12px}
"""


def page(title: str, token: str, labels_path: str) -> str:
    e = lambda s: html.escape(str(s), quote=True)  # noqa: E731
    keys = "".join(f"<tr><td>{e(k)}</td><td>{e(what)}</td></tr>" for k, what in KEYS)
    questions = "".join(
        f"<div class='q' id='q-{q}' data-state='unset'><h2>{q} valid?<span class='state'></span></h2><pre></pre></div>"
        for q in ("instruction", "input", "output")
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        f"<title>{e(title)}</title><style>{CSS}</style></head>"
        f"<body data-token='{e(token)}' data-pending='0'>"
        f"<header><h1>{e(title)}</h1><span id='pos'>loading…</span><span id='status'></span>"
        "<span id='who' class='muted'></span></header>"
        "<div id='meta'></div><div id='reason'></div><table id='checks'></table>"
        f"{questions}<div id='more'></div><p id='by' class='muted'></p>"
        "<details open><summary>keys</summary><table class='keys'>"
        f"{keys}</table><p class='muted'>Questions as in Self-Instruct's audit: is the instruction a valid task, "
        "is the input appropriate for it, is the output a correct and acceptable response (of the first "
        f"instance). Each label is saved at once to {e(labels_path)}.</p></details>"
        f"<script>{SCRIPT}</script></body></html>"
    )
