//! Records joined by pairs above the threshold form clusters (union-find); a cluster that
//! holds together only through one weak link is flagged.

/// Disjoint sets over record numbers, with path halving and union by size.
#[derive(Clone, Debug)]
pub struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    pub fn new(n: usize) -> Self {
        Self { parent: (0..n as u32).collect(), size: vec![1; n] }
    }

    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    /// Joins the sets of `a` and `b`; false when they were one already.
    pub fn union(&mut self, a: u32, b: u32) -> bool {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return false;
        }
        if self.size[a as usize] < self.size[b as usize] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b as usize] = a;
        self.size[a as usize] += self.size[b as usize];
        true
    }

    pub fn size_of(&mut self, x: u32) -> u32 {
        let root = self.find(x);
        self.size[root as usize]
    }

    /// Each record's cluster, named by its smallest record number.
    pub fn clusters(&mut self) -> Vec<u32> {
        let n = self.parent.len();
        let mut smallest = vec![u32::MAX; n];
        for x in 0..n as u32 {
            let root = self.find(x) as usize;
            smallest[root] = smallest[root].min(x);
        }
        (0..n as u32).map(|x| smallest[self.find(x) as usize]).collect()
    }
}

/// The links of one cluster whose removal splits it in two (bridges), weakest first. A
/// cluster held together by a bridge of low probability is one to review: the two sides may
/// be two people joined through one doubtful pair.
pub fn bridges(nodes: &[u32], edges: &[(u32, u32, f64)]) -> Vec<(u32, u32, f64)> {
    use std::collections::HashMap;
    let index: HashMap<u32, usize> = nodes.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let mut adjacent: Vec<Vec<(usize, usize)>> = vec![Vec::new(); nodes.len()];
    for (e, &(a, b, _)) in edges.iter().enumerate() {
        let (Some(&i), Some(&j)) = (index.get(&a), index.get(&b)) else { continue };
        adjacent[i].push((j, e));
        adjacent[j].push((i, e));
    }
    // Tarjan's bridge search, iterative so a long chain cannot overflow the stack.
    let n = nodes.len();
    let (mut order, mut low) = (vec![usize::MAX; n], vec![0usize; n]);
    let mut found = Vec::new();
    let mut counter = 0;
    for start in 0..n {
        if order[start] != usize::MAX {
            continue;
        }
        let mut stack: Vec<(usize, usize, usize)> = vec![(start, usize::MAX, 0)];
        order[start] = counter;
        low[start] = counter;
        counter += 1;
        while let Some(&mut (v, via, ref mut next)) = stack.last_mut() {
            if let Some(&(w, e)) = adjacent[v].get(*next) {
                *next += 1;
                if e == via {
                    continue;
                }
                if order[w] == usize::MAX {
                    order[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push((w, e, 0));
                } else {
                    low[v] = low[v].min(order[w]);
                }
            } else {
                stack.pop();
                if let Some(&(parent, _, _)) = stack.last() {
                    low[parent] = low[parent].min(low[v]);
                    if low[v] > order[parent] {
                        found.push(edges[via]);
                    }
                }
            }
        }
    }
    found.sort_by(|a, b| a.2.total_cmp(&b.2));
    found
}

/// Clusters of `nodes` records joined by `edges` (a, b, probability): connected components,
/// each of three or more records split at its links whose removal splits it (bridges) when
/// they are below `split_below`: two people joined through one doubtful pair stay two.
/// Returns each record's cluster (its smallest member), the edges kept, and how many
/// clusters were split.
pub fn split_clusters(nodes: usize, edges: &[(u32, u32, f64)], split_below: f64) -> (Vec<u32>, Vec<(u32, u32, f64)>, u64) {
    use std::collections::{HashMap, HashSet};
    let mut uf = UnionFind::new(nodes);
    for &(a, b, _) in edges {
        uf.union(a, b);
    }
    let ids = uf.clusters();
    let mut members: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut links: HashMap<u32, Vec<(u32, u32, f64)>> = HashMap::new();
    for &e in edges {
        links.entry(ids[e.0 as usize]).or_default().push(e);
    }
    for (&id, cluster_links) in &links {
        let nodes = members.entry(id).or_default();
        let mut seen = HashSet::new();
        for &(a, b, _) in cluster_links {
            for n in [a, b] {
                if seen.insert(n) {
                    nodes.push(n);
                }
            }
        }
    }
    let mut dropped: HashSet<(u32, u32)> = HashSet::new();
    let mut split = 0;
    for (id, nodes) in &members {
        if nodes.len() < 3 {
            continue;
        }
        let weak: Vec<(u32, u32, f64)> = bridges(nodes, &links[id]).into_iter().filter(|b| b.2 < split_below).collect();
        if !weak.is_empty() {
            split += 1;
            dropped.extend(weak.iter().map(|&(a, b, _)| (a, b)));
        }
    }
    if dropped.is_empty() {
        return (ids, edges.to_vec(), 0);
    }
    let kept: Vec<(u32, u32, f64)> = edges.iter().copied().filter(|&(a, b, _)| !dropped.contains(&(a, b))).collect();
    let mut uf = UnionFind::new(nodes);
    for &(a, b, _) in &kept {
        uf.union(a, b);
    }
    (uf.clusters(), kept, split)
}

/// Clusters as a run forms them ([`split_clusters`]), with what the result tables need.
pub struct Formed {
    /// Each record's cluster (its smallest member).
    pub ids: Vec<u32>,
    /// Each clustered record's most likely kept link.
    pub best: std::collections::HashMap<u32, f64>,
    /// Records per cluster of two or more.
    pub sizes: std::collections::HashMap<u32, u64>,
    pub split: u64,
}

pub fn form(nodes: usize, edges: &[(u32, u32, f64)], split_below: f64) -> Formed {
    let (ids, kept, split) = split_clusters(nodes, edges, split_below);
    let mut best: std::collections::HashMap<u32, f64> = std::collections::HashMap::new();
    for &(l, r, p) in &kept {
        for node in [l, r] {
            let e = best.entry(node).or_insert(p);
            *e = f64::max(*e, p);
        }
    }
    let mut sizes = std::collections::HashMap::new();
    for &node in best.keys() {
        *sizes.entry(ids[node as usize]).or_default() += 1;
    }
    Formed { ids, best, sizes, split }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_find_joins_chains_and_names_clusters_by_their_first_record() {
        let mut uf = UnionFind::new(7);
        assert!(uf.union(5, 3));
        assert!(uf.union(3, 1));
        assert!(!uf.union(1, 5));
        assert!(uf.union(2, 6));
        assert_eq!(uf.clusters(), vec![0, 1, 2, 1, 4, 1, 2]);
        assert_eq!(uf.size_of(5), 3);
        assert_eq!(uf.size_of(4), 1);
    }

    #[test]
    fn a_weak_link_between_two_tight_groups_is_the_bridge() {
        // Two triangles joined by one doubtful pair.
        let edges = vec![(1, 2, 0.99), (2, 3, 0.98), (1, 3, 0.97), (3, 4, 0.55), (4, 5, 0.99), (5, 6, 0.99), (4, 6, 0.96)];
        assert_eq!(bridges(&[1, 2, 3, 4, 5, 6], &edges), vec![(3, 4, 0.55)]);
        // A chain: every link is a bridge, weakest first.
        let chain = vec![(1, 2, 0.9), (2, 3, 0.6), (3, 4, 0.8)];
        assert_eq!(bridges(&[1, 2, 3, 4], &chain), vec![(2, 3, 0.6), (3, 4, 0.8), (1, 2, 0.9)]);
        // A cycle has none.
        assert!(bridges(&[1, 2, 3], &[(1, 2, 0.9), (2, 3, 0.9), (3, 1, 0.9)]).is_empty());
    }

    #[test]
    fn two_people_joined_by_one_doubtful_pair_stay_two() {
        // 0-1-2 and 3-4 are people; 2-3 is a doubtful link; 5-6 a pair; 7 alone.
        let edges = vec![(0, 1, 0.99), (1, 2, 0.97), (0, 2, 0.9), (2, 3, 0.6), (3, 4, 0.99), (5, 6, 0.55)];
        let (ids, kept, split) = split_clusters(8, &edges, 0.8);
        assert_eq!(ids, vec![0, 0, 0, 3, 3, 5, 5, 7]);
        assert_eq!(split, 1);
        assert_eq!(kept.len(), 5);
        // A strong bridge holds.
        let (ids, _, split) = split_clusters(5, &[(0, 1, 0.99), (1, 2, 0.95)], 0.8);
        assert_eq!((ids, split), (vec![0, 0, 0, 3, 4], 0));
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let n = 200_000u32;
        let nodes: Vec<u32> = (0..n).collect();
        let edges: Vec<(u32, u32, f64)> = (1..n).map(|i| (i - 1, i, 0.9)).collect();
        assert_eq!(bridges(&nodes, &edges).len(), (n - 1) as usize);
    }
}
