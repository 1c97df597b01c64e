//! What upstream's Go code does with decoded JSON that the results depend on: the Go type of a
//! value (`reflect.TypeOf`), its `%v` text (which scalars and merge keys are sorted by and
//! errors print), the in-place deduplication of scalars and `sort.SliceStable`.

use serde_json::Value;

use super::{Result, StrategicMergeError};

/// The Go type a decoded unstructured value has. Integers (`int64`) and other numbers
/// (`float64`) are different types, so `1` and `1.5` are a type change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GoType {
    Nil,
    Bool,
    Int,
    Float,
    String,
    Slice,
    Map,
}

impl GoType {
    pub(super) fn of(value: &Value) -> GoType {
        match value {
            Value::Null => GoType::Nil,
            Value::Bool(_) => GoType::Bool,
            Value::Number(n) if n.is_i64() => GoType::Int,
            Value::Number(_) => GoType::Float,
            Value::String(_) => GoType::String,
            Value::Array(_) => GoType::Slice,
            Value::Object(_) => GoType::Map,
        }
    }

    /// The name Go prints for the type (`reflect.Type.String()`).
    pub(super) fn name(self) -> &'static str {
        match self {
            GoType::Nil => "<nil>",
            GoType::Bool => "bool",
            GoType::Int => "int64",
            GoType::Float => "float64",
            GoType::String => "string",
            GoType::Slice => "[]interface {}",
            GoType::Map => "map[string]interface {}",
        }
    }
}

/// Go's `fmt.Sprintf("%v", value)`, which upstream sorts scalars and merge keys by and prints
/// values in errors with.
pub(super) fn go_format(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => go_float_v(f),
            _ => n.to_string(),
        },
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_format).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(map) => format!(
            "map[{}]",
            map.iter()
                .map(|(k, v)| format!("{k}:{}", go_format(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// `%v` of a float64: `strconv.FormatFloat(f, 'g', -1, 64)`, which switches to the exponent
/// form below 1e-4 and from 1e+06 up.
fn go_float_v(f: f64) -> String {
    let exp_form = format!("{f:e}");
    let (mantissa, exponent) = exp_form.split_once('e').unwrap_or((&exp_form, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if f != 0.0 && !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        format!("{f}")
    }
}

/// The common element type of some lists (upstream `sliceElementType`); errors when they mix
/// types, start with a list, or are all empty. Upstream dereferences the nil type of a leading
/// `null` element and panics; that is refused here instead.
pub(super) fn slice_element_type(lists: &[&[Value]]) -> Result<GoType> {
    let mut kind = None;
    for item in lists.iter().flat_map(|l| l.iter()) {
        let this = GoType::of(item);
        match kind {
            None if this == GoType::Slice => return Err(StrategicMergeError::ListOfLists),
            None if this == GoType::Nil => {
                return Err(StrategicMergeError::MixedList("null elements".into()))
            }
            None => kind = Some(this),
            Some(k) if k != this => {
                let lists: Vec<Value> = lists.iter().map(|l| Value::Array(l.to_vec())).collect();
                return Err(StrategicMergeError::MixedList(go_format(&Value::Array(
                    lists,
                ))));
            }
            Some(_) => {}
        }
    }
    kind.ok_or(StrategicMergeError::NoElements)
}

/// Go's `deduplicateScalars`, in place: a duplicate is overwritten by the last item and the
/// slice shrinks. Returns the new length; the items past it keep what Go leaves there.
pub(super) fn go_deduplicate(items: &mut [Value]) -> usize {
    let mut length = items.len();
    let mut i = 0;
    while i + 1 < length {
        let mut j = i + 1;
        while j < length {
            if items[i] == items[j] {
                items[j] = items[length - 1].clone();
                length -= 1;
            } else {
                j += 1;
            }
        }
        i += 1;
    }
    length
}

/// The algorithm of Go's `sort.SliceStable` (insertion sort of blocks of 20, then SymMerge), so
/// that the result matches upstream for any comparator, even an inconsistent one. Never panics.
pub(super) fn go_stable_sort<T>(data: &mut [T], less: &dyn Fn(&T, &T) -> bool) {
    let n = data.len();
    let mut block = 20;
    let (mut a, mut b) = (0, block);
    while b <= n {
        insertion_sort(data, a, b, less);
        a = b;
        b += block;
    }
    insertion_sort(data, a, n, less);
    while block < n {
        let (mut a, mut b) = (0, 2 * block);
        while b <= n {
            sym_merge(data, a, a + block, b, less);
            a = b;
            b += 2 * block;
        }
        let m = a + block;
        if m < n {
            sym_merge(data, a, m, n, less);
        }
        block *= 2;
    }
}

fn insertion_sort<T>(data: &mut [T], a: usize, b: usize, less: &dyn Fn(&T, &T) -> bool) {
    for i in a + 1..b {
        let mut j = i;
        while j > a && less(&data[j], &data[j - 1]) {
            data.swap(j, j - 1);
            j -= 1;
        }
    }
}

fn sym_merge<T>(data: &mut [T], a: usize, m: usize, b: usize, less: &dyn Fn(&T, &T) -> bool) {
    if m - a == 1 {
        let (mut i, mut j) = (m, b);
        while i < j {
            let h = (i + j) / 2;
            if less(&data[h], &data[a]) {
                i = h + 1;
            } else {
                j = h;
            }
        }
        for k in a..i.saturating_sub(1) {
            data.swap(k, k + 1);
        }
        return;
    }
    if b - m == 1 {
        let (mut i, mut j) = (a, m);
        while i < j {
            let h = (i + j) / 2;
            if !less(&data[m], &data[h]) {
                i = h + 1;
            } else {
                j = h;
            }
        }
        let mut k = m;
        while k > i {
            data.swap(k, k - 1);
            k -= 1;
        }
        return;
    }
    let mid = (a + b) / 2;
    let n = mid + m;
    let (mut start, mut r) = if m > mid { (n - b, mid) } else { (a, m) };
    let p = n - 1;
    while start < r {
        let c = (start + r) / 2;
        if !less(&data[p - c], &data[c]) {
            start = c + 1;
        } else {
            r = c;
        }
    }
    let end = n - start;
    if start < m && m < end {
        // Swaps `data[start..m]` and `data[m..end]`.
        data[start..end].rotate_left(m - start);
    }
    if a < start && start < mid {
        sym_merge(data, a, start, mid, less);
    }
    if mid < end && end < b {
        sym_merge(data, mid, end, b, less);
    }
}
